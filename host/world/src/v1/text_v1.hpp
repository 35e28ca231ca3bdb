// Internal: world v1's vocabulary (classes, colours, surface patterns) and captions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core/matx.hpp>

namespace ovseg::world::v1 {

// Label ids; must match classes()' order.
enum ClassId : int { kGrass = 0, kWater, kSand, kCircle, kSquare, kTriangle, kStar, kCross };
inline constexpr int kFirstThing = kCircle;
inline constexpr int kThingCount = 5;

// Surface patterns. Like real object categories, each thing class has a
// characteristic look (its pattern, in any colour) that a local image patch
// can reveal; a minority of things are plain, recognisable by shape alone.
enum class Texture : int { Plain = 0, Rings, Checks, Stripes, Dots, Grid };
Texture characteristic_texture(int thing_class);

int colour_count();
// Like real object categories, thing classes have typical colours (two each,
// `which` picks one); scenes use them most of the time, any colour otherwise.
int characteristic_colour(int thing_class, int which);
cv::Vec3d colour_bgr(int colour);

struct CaptionThing {
  int cls;
  int colour;
  Texture texture;
};

// A sentence naming the visible things (grouped and counted) and the stuff,
// with synonyms, colour/pattern words and the template drawn from `seed`.
std::string compose_caption(const std::vector<CaptionThing>& things, const std::vector<int>& stuff, uint64_t seed);

}  // namespace ovseg::world::v1
