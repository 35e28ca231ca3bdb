// Internal: world v2's vocabulary: its classes (names, kind, typical look),
// its colour palette and its surface patterns.
#pragma once

#include <string>
#include <vector>

#include <opencv2/core/matx.hpp>

namespace ovseg::world::v2 {

// Label ids; must match catalog()'s order. Stuff first, then the objects,
// each whole directly followed by its parts.
enum ClassId : int {
  kGrass = 0,
  kWater,
  kSand,
  kSnow,
  kRoad,
  kDirt,
  kHouse,
  kRoof,
  kDoor,
  kTree,
  kTrunk,
  kCar,
  kWheel,
  kBoat,
  kFish,
  kLadybug,
  kBee,
  kFlower,
  kBall,
  kUmbrella,
  kKite,
  kBalloon,
  kStar,
  kFlag,
  kGift,
  kTurtle,
  kLollipop,
  kSnail,
  kMoon,
  kFrog,
  kClassCount
};
inline constexpr int kStuffCount = kHouse;

// Palette ids: the colours of things and their patterns, chosen far from
// each other and from every stuff colour (no green, blue or cyan, beige,
// white, grey or brown: things in those colours were read as the stuff).
enum ColourId : int {
  kRed = 0,
  kOrange,
  kYellow,
  kLime,
  kTeal,
  kNavy,
  kPurple,
  kMagenta,
  kPink,
  kMaroon,
  kBlack,
  kColourCount
};

struct Colour {
  const char* word;  // used in captions
  double r, g, b;
};
const Colour& colour(int id);
cv::Vec3d colour_bgr(int id);

// Two-tone surface patterns: the pattern is drawn in a second colour on the
// thing's colour (like a ladybug's spots or a bee's stripes). Plain is only
// for small accessories (a fish's eye): plain objects were read as stuff.
enum class Pattern : int { Plain = 0, Stripes, Dots, Checks, Grid, Rings };
const std::vector<std::string>& pattern_words(Pattern p);  // adjectives, e.g. "striped"

enum class Kind { Stuff, Object, Part };

struct Noun {
  std::string singular, plural;
};

// A thing's typical look.
struct Look {
  int colour = kRed;
  Pattern pattern = Pattern::Plain;
  int pattern_colour = kBlack;
};

struct ClassSpec {
  Kind kind;
  std::vector<Noun> nouns;  // synonyms; the first is the display name
  Look look;                // things only
  int alt_colour = -1;      // a second typical colour, or -1
  int whole = -1;           // parts: their object's class id
};

const std::vector<ClassSpec>& catalog();

}  // namespace ovseg::world::v2
