#include "text_v1.hpp"

#include <map>
#include <random>
#include <sstream>
#include <tuple>

#include "../common/words.hpp"
#include "../versions.hpp"

namespace ovseg::world::v1 {

namespace {

struct Noun {
  std::string singular, plural;
};

// Synonyms per class, singular and plural; the first is the display name.
const std::vector<std::vector<Noun>>& nouns() {
  static const std::vector<std::vector<Noun>> n = {
      {{"grass", "grass"}, {"lawn", "lawn"}, {"meadow", "meadow"}},
      {{"water", "water"}, {"sea", "sea"}, {"lake", "lake"}},
      {{"sand", "sand"}, {"beach", "beach"}, {"desert", "desert"}},
      {{"circle", "circles"}, {"disc", "discs"}, {"round shape", "round shapes"}},
      {{"square", "squares"}, {"box", "boxes"}, {"block", "blocks"}},
      {{"triangle", "triangles"}, {"wedge", "wedges"}},
      {{"star", "stars"}, {"starlet", "starlets"}},
      {{"cross", "crosses"}, {"plus sign", "plus signs"}},
  };
  return n;
}

struct Colour {
  const char* word;
  double r, g, b;
};
const std::vector<Colour>& colours() {
  static const std::vector<Colour> c = {
      {"red", 215, 35, 35},  {"orange", 245, 140, 25}, {"yellow", 240, 220, 40}, {"green", 45, 175, 65},
      {"blue", 40, 70, 215}, {"purple", 135, 50, 185}, {"pink", 240, 125, 190},  {"white", 240, 240, 240},
      {"black", 25, 25, 25}, {"grey", 128, 128, 128},  {"brown", 120, 70, 30},
  };
  return c;
}

class Pick {
 public:
  explicit Pick(uint64_t seed) : g_(seed) {}
  int below(int n) { return static_cast<int>(g_() % static_cast<uint64_t>(n)); }
  template <class T>
  const T& one(const std::vector<T>& v) {
    return v[below(static_cast<int>(v.size()))];
  }

 private:
  std::mt19937_64 g_;
};

std::string thing_phrase(const CaptionThing& t, int count, Pick& pick) {
  const Noun& noun = pick.one(nouns()[t.cls]);
  std::string words;
  // The pattern and the colour are named some of the time only: with a
  // colour word in most captions, matching captions to images is solvable
  // from colours alone and the model never has to learn the shapes.
  static const std::vector<std::vector<std::string>> pattern_words = {
      {}, {"ringed", "banded"}, {"checkered", "chequered"}, {"striped"}, {"dotted", "spotted"}, {"plaid", "gridded"}};
  if (t.texture != Texture::Plain && pick.below(5) < 2)
    words += pick.one(pattern_words[static_cast<size_t>(t.texture)]) + " ";
  if (pick.below(4) == 0) words += std::string(colours()[t.colour].word) + " ";
  words += count == 1 ? noun.singular : noun.plural;
  return counted(count, words);
}

std::string stuff_phrase(const std::vector<int>& stuff, Pick& pick) {
  static const std::vector<std::vector<std::string>> on = {{"on the grass", "on a lawn", "in a meadow",
                                                            "on green grass"},
                                                           {"in the water", "on the sea", "in a lake", "on blue water"},
                                                           {"on the sand", "on a beach", "in the desert",
                                                            "on yellow sand"}};
  if (stuff.size() == 1) return pick.one(on[stuff[0]]);
  const std::string a = pick.one(nouns()[stuff[0]]).singular, b = pick.one(nouns()[stuff[1]]).singular;
  switch (pick.below(3)) {
    case 0: return "between the " + a + " and the " + b;
    case 1: return pick.one(on[stuff[0]]) + " next to the " + b;
    default: return "where " + a + " meets " + b;
  }
}

}  // namespace

Texture characteristic_texture(int thing_class) {
  switch (thing_class) {
    case kCircle: return Texture::Rings;
    case kSquare: return Texture::Checks;
    case kTriangle: return Texture::Stripes;
    case kStar: return Texture::Dots;
    default: return Texture::Grid;
  }
}

int characteristic_colour(int thing_class, int which) {
  // Indices into colours(): circle red/orange, square purple/pink, triangle
  // white/grey, star yellow/black, cross brown/pink; none is the stuff's
  // green or blue.
  static const int table[kThingCount][2] = {{0, 1}, {5, 6}, {7, 9}, {2, 8}, {10, 6}};
  return table[thing_class - kFirstThing][which & 1];
}

int colour_count() { return static_cast<int>(colours().size()); }

cv::Vec3d colour_bgr(int colour) {
  const Colour& c = colours().at(colour);
  return {c.b, c.g, c.r};
}

const std::vector<WorldClass>& classes() {
  static const std::vector<WorldClass> classes = [] {
    std::vector<WorldClass> out;
    for (size_t c = 0; c < nouns().size(); ++c) {
      WorldClass wc;
      for (const Noun& n : nouns()[c]) wc.synonyms.push_back(n.singular);
      wc.name = wc.synonyms.front();
      wc.thing = static_cast<int>(c) >= kFirstThing;
      out.push_back(wc);
    }
    return out;
  }();
  return classes;
}

std::string compose_caption(const std::vector<CaptionThing>& things, const std::vector<int>& stuff, uint64_t seed) {
  Pick pick(seed);
  // Group identical (class, colour, texture) things so counts read naturally.
  std::map<std::tuple<int, int, int>, int> groups;
  std::vector<std::tuple<int, int, int>> order;
  for (const auto& t : things) {
    const auto key = std::make_tuple(t.cls, t.colour, static_cast<int>(t.texture));
    if (groups[key]++ == 0) order.push_back(key);
  }
  std::vector<std::string> parts;
  for (const auto& key : order)
    parts.push_back(
        thing_phrase({std::get<0>(key), std::get<1>(key), static_cast<Texture>(std::get<2>(key))}, groups[key], pick));
  const std::string where = stuff_phrase(stuff, pick);
  if (parts.empty()) {
    static const std::vector<std::string> only = {"a photo of ", "a picture of ", "an empty scene: ", ""};
    return pick.one(only) + pick.one(nouns()[stuff[0]]).singular + ".";
  }
  const std::string what = join_list(parts);
  // Most captions name only the things: stuff is in every scene and easy to
  // see, so captions that always named it would let the model match them by
  // the background alone and never learn the things.
  if (pick.below(3) != 0) {
    static const std::vector<std::string> lead = {"a photo of ", "a picture of ", "", "there is "};
    return pick.one(lead) + what + ".";
  }
  switch (pick.below(5)) {
    case 0: return "a photo of " + what + " " + where + ".";
    case 1: return what + " " + where + ".";
    case 2: return "there is " + what + " " + where + ".";
    case 3: return "a picture of " + what + " " + where + ".";
    default: return "a rendering of " + what + " " + where + ".";
  }
}

}  // namespace ovseg::world::v1
