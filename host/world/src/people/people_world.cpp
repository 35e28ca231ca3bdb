// The object-level people world: a people scene seen as a world v2 scene
// with one more class, "person" (every figure pixel), and a caption that
// names the figures with the words people are described by (so a CLIP
// trained on it learns what "person", "man", "pedestrian" ... look like) as
// well as the background's stuff and objects (so it keeps world v2's classes).
#include <algorithm>
#include <stdexcept>

#include <opencv2/core.hpp>

#include "../common/rng.hpp"
#include "../common/words.hpp"
#include "../v2/catalog_v2.hpp"
#include "../versions.hpp"
#include "ovseg/world/people.hpp"

namespace ovseg::world {

namespace {

void require_background(const PeopleScene& sc, const char* what) {
  if (sc.background_label.empty() || sc.background_label.size() != sc.person.size())
    throw std::invalid_argument(std::string(what) +
                                ": the scene has no background maps (make it with render_people_scene, not "
                                "draw_people)");
}

// A figure's look in a few words: its dress, coat or top, by colour.
std::string garment_phrase(const PersonSpec& p) {
  const char* noun = p.dress ? "dress" : p.coat ? "coat" : p.sleeves == Sleeves::None ? "top" : "shirt";
  const int colour = p.coat ? p.coat_colour : p.top_colour;
  return std::string(" in a ") + v2::colour(colour).word + " " + noun;
}

// Keeps the visible-in-drawing-order id of a figure pixel apart from the
// background's objects: figures are drawn after them.
cv::Mat masked(const cv::Mat& background, const cv::Mat& person) {
  cv::Mat out = background.clone();
  out.setTo(0, person > 0);
  return out;
}

}  // namespace

std::string people_world_class_names_text() { return world_class_names_text(2) + "person\n"; }

cv::Mat people_world_labels(const PeopleScene& sc) {
  require_background(sc, "people_world_labels");
  static_assert(kPeopleWorldPersonClass == v2::kClassCount, "person follows world v2's classes");
  cv::Mat label = sc.background_label.clone();
  label.setTo(kPeopleWorldPersonClass, sc.person > 0);
  return label;
}

cv::Mat people_world_instances(const PeopleScene& sc) {
  require_background(sc, "people_world_instances");
  cv::Mat inst = masked(sc.background_instances, sc.person);
  double max_id = 0;
  cv::minMaxLoc(sc.background_instances, nullptr, &max_id);
  for (int y = 0; y < inst.rows; ++y) {
    const uchar* who = sc.person.ptr<uchar>(y);
    uint16_t* out = inst.ptr<uint16_t>(y);
    for (int x = 0; x < inst.cols; ++x)
      if (who[x]) out[x] = static_cast<uint16_t>(max_id + who[x]);
  }
  renumber_visible(inst);  // background objects hidden by a figure leave no id
  return inst;
}

cv::Mat people_world_parts(const PeopleScene& sc) {
  require_background(sc, "people_world_parts");
  cv::Mat parts = masked(sc.background_parts, sc.person);
  renumber_visible(parts);
  return parts;
}

// The mapping from a figure to its caption word (an assumption of ours,
// README "The people world"; the world's figures have no age, so "child"
// and "kid" name any figure, as do "person" and "human"):
//   u < 0.40          person
//   0.40 <= u < 0.45  human
//   0.45 <= u < 0.55  pedestrian when the figure stands on road, else person
//   0.55 <= u < 0.65  child (u < 0.60) or kid
//   u >= 0.65         by the clothes: a dress, a skirt or long hair reads as
//                     woman / girl / lady, anything else as man / boy / guy
//                     (in proportions 6 : 2 : 1 over 0.65..1)
std::string person_word(const PersonSpec& p, bool on_road, double u) {
  if (u < 0.40) return "person";
  if (u < 0.45) return "human";
  if (u < 0.55) return on_road ? "pedestrian" : "person";
  if (u < 0.65) return u < 0.60 ? "child" : "kid";
  const bool feminine = p.dress || p.lower == Lower::Skirt || p.long_hair;
  const double v = (u - 0.65) / 0.35;  // 0..1
  if (v < 6.0 / 9) return feminine ? "woman" : "man";
  if (v < 8.0 / 9) return feminine ? "girl" : "boy";
  return feminine ? "lady" : "guy";
}

std::string people_world_caption(const PeopleScene& sc, uint64_t seed) {
  require_background(sc, "people_world_caption");
  Rng pick(seed);
  // Figures seen well enough to be named: 20 visible pixels, as world v2
  // names an object.
  constexpr int kMinPixels = 20;
  std::vector<std::string> named;
  for (size_t i = 0; i < sc.people.size(); ++i) {
    const PersonSpec& p = sc.people[i];
    const double u = pick.uniform(0, 1), g = pick.uniform(0, 1);  // drawn for every figure: stable streams
    if (i >= sc.visible.size() || sc.visible[i] < kMinPixels) continue;
    const int fx = std::clamp(static_cast<int>(p.cx), 0, sc.background_label.cols - 1);
    const int fy = std::clamp(static_cast<int>(p.feet_y) - 1, 0, sc.background_label.rows - 1);
    const bool on_road = sc.background_label.at<uchar>(fy, fx) == v2::kRoad;
    std::string w = counted(1, person_word(p, on_road, u));
    if (g < 0.5) w += garment_phrase(p);  // half the time: figures differ by their clothes
    named.push_back(w);
  }
  std::string bg = sc.background_caption;
  if (named.empty()) return bg;
  std::string people = join_list(named);
  if (named.size() >= 2 && pick.chance(0.4)) {
    static const char* const group[] = {"people", "people", "persons", "humans"};
    people = counted(static_cast<int>(named.size()), group[pick.below(4)]) + ": " + people;
  }
  // Half the captions name only the people: a caption that always named the
  // background too could be matched by the background alone, and the model
  // would never have to find the figures (world v1's and v2's lesson for
  // objects and stuff, host/models/embedded/README.md).
  const double how = pick.uniform(0, 1);
  if (how < 0.5) {
    static const char* const lead[] = {"a photo of ", "a picture of ", "", "there is "};
    return lead[pick.below(4)] + people + ".";
  }
  if (!bg.empty() && bg.back() == '.') bg.pop_back();
  if (how < 0.75) return people + ". " + bg + ".";
  return bg + " with " + people + ".";
}

}  // namespace ovseg::world
