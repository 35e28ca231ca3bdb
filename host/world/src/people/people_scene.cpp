// Random people-world scenes: a world v2 scene as background, then 1-4
// figures with random poses, clothes and colours, far ones first, and a
// caption naming each figure's clothes.
#include <algorithm>

#include "../common/rng.hpp"
#include "../v2/catalog_v2.hpp"
#include "../versions.hpp"
#include "ovseg/world/people.hpp"

namespace ovseg::world {

namespace {

int pick_pattern(Rng& rng) {  // plain, stripes, dots, checks or grid; plain most often
  const double u = rng.uniform(0, 1);
  return u < 0.4 ? 0 : 1 + rng.below(4);
}

PersonSpec random_person(Rng& rng, int w, int h) {
  PersonSpec p;
  p.feet_y = rng.uniform(0.6, 1.05) * h;
  // Perspective: figures standing lower in the picture are nearer and taller.
  p.height = h * (0.42 + 0.55 * (p.feet_y / h - 0.6) / 0.45) * rng.uniform(0.85, 1.1);
  p.cx = rng.uniform(0.12, 0.88) * w;
  p.facing = rng.chance(0.3) ? Facing::Back : Facing::Front;
  auto shoulder = [&] {  // hanging, held out, or raised
    const double u = rng.uniform(0, 1);
    return u < 0.5 ? rng.uniform(4, 25) : u < 0.8 ? rng.uniform(35, 80) : rng.uniform(100, 160);
  };
  p.left_shoulder = shoulder();
  p.right_shoulder = rng.chance(0.5) ? p.left_shoulder + rng.uniform(-8, 8) : shoulder();
  p.left_elbow = rng.chance(0.4) ? rng.uniform(-70, 70) : 0;
  p.right_elbow = rng.chance(0.4) ? rng.uniform(-70, 70) : 0;
  if (rng.chance(0.35)) {  // walking: one leg forward (inward in the picture), the other back
    p.left_hip = rng.uniform(-6, 4);
    p.right_hip = rng.uniform(12, 22);
    p.left_knee = rng.uniform(0, 25);
    if (rng.chance(0.5)) std::swap(p.left_hip, p.right_hip);
  } else {
    p.left_hip = rng.uniform(2, 14);
    p.right_hip = rng.uniform(2, 14);
  }
  const double u = rng.uniform(0, 1);
  p.dress = u < 0.2;
  p.lower = p.dress ? Lower::Skirt : (u < 0.6 ? Lower::Pants : u < 0.78 ? Lower::Shorts : Lower::Skirt);
  const double s = rng.uniform(0, 1);
  p.sleeves = s < 0.25 ? Sleeves::None : s < 0.65 ? Sleeves::Short : Sleeves::Long;
  p.coat = !p.dress && rng.chance(0.15);
  p.hat = rng.chance(0.25);
  p.sunglasses = rng.chance(0.12);
  p.gloves = rng.chance(0.1);
  p.long_hair = rng.chance(0.35);
  p.top_colour = rng.below(v2::kColourCount);
  p.top_pattern = pick_pattern(rng);
  p.top_pattern_colour = rng.below(v2::kColourCount);
  do p.bottom_colour = rng.below(v2::kColourCount);
  while (p.bottom_colour == p.top_colour);
  p.bottom_pattern = rng.chance(0.7) ? 0 : pick_pattern(rng);
  p.bottom_pattern_colour = rng.below(v2::kColourCount);
  p.coat_colour = rng.below(v2::kColourCount);
  p.hat_colour = rng.below(v2::kColourCount);
  p.shoe_colour = rng.below(v2::kColourCount);
  p.skin_tone = rng.below(5);
  p.hair_colour = rng.below(5);
  return p;
}

std::string garment(int colour, int pattern, const char* noun) {
  std::string s = v2::colour(colour).word;
  if (pattern) s = v2::pattern_words(static_cast<v2::Pattern>(pattern)).front() + " " + s;
  return s + " " + noun;
}

std::string describe(const PersonSpec& p) {
  std::string d = "a person";
  if (p.facing == Facing::Back) d += " seen from behind";
  d += " in a ";
  if (p.dress) {
    d += garment(p.top_colour, p.top_pattern, "dress");
  } else {
    d += garment(p.top_colour, p.top_pattern, p.sleeves == Sleeves::None ? "top" : "shirt");
    const char* lower = p.lower == Lower::Pants ? "pants" : p.lower == Lower::Shorts ? "shorts" : "skirt";
    d += std::string(" and ") + (p.lower == Lower::Skirt ? "a " : "") +
         garment(p.bottom_colour, p.bottom_pattern, lower);
  }
  std::vector<std::string> extras;
  if (p.coat) extras.push_back(std::string("a ") + v2::colour(p.coat_colour).word + " coat");
  if (p.hat) extras.push_back(std::string("a ") + v2::colour(p.hat_colour).word + " hat");
  if (p.sunglasses) extras.push_back("sunglasses");
  if (p.gloves) extras.push_back("white gloves");
  for (size_t i = 0; i < extras.size(); ++i) d += (i ? " and " : " with ") + extras[i];
  return d;
}

}  // namespace

PeopleScene render_people_scene(uint64_t seed, int w, int h) {
  Rng rng(seed);
  const double u = rng.uniform(0, 1);
  const int n = u < 0.3 ? 1 : u < 0.65 ? 2 : u < 0.9 ? 3 : 4;
  std::vector<PersonSpec> people;
  for (int i = 0; i < n; ++i) people.push_back(random_person(rng, w, h));
  std::stable_sort(people.begin(), people.end(),
                   [](const PersonSpec& a, const PersonSpec& b) { return a.feet_y < b.feet_y; });
  const uint64_t background_seed = rng.raw(), paint_seed = rng.raw();
  const Scene background = v2::render(background_seed, w, h);
  PeopleScene sc = draw_people(background.image, people, paint_seed);
  static const char* counts[] = {"", "one person", "two people", "three people", "four people"};
  sc.caption = std::string(counts[n]) + ": ";
  for (int i = 0; i < n; ++i) sc.caption += (i ? "; " : "") + describe(people[static_cast<size_t>(i)]);
  // The object-level world's view of the same scene. Its caption seed is
  // drawn last, so the scene's pixels and LIP caption are as before.
  sc.background_label = background.label;
  sc.background_instances = background.instances;
  sc.background_parts = background.parts;
  sc.background_caption = background.caption;
  sc.world_caption = people_world_caption(sc, rng.raw());
  return sc;
}

}  // namespace ovseg::world
