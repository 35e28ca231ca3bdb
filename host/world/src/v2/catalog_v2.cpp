// World v2's classes, palette and patterns.
//
// world_v2_design: why the classes look as they do. A 2-layer CLIP that sees
// 64 px scenes through 8 px patches recognises what a patch shows: colours
// and fine texture. World v1 taught that an object class becomes learnable
// once it has a typical colour and a characteristic surface pattern (as real
// categories do: a ladybug is red with black spots, a bee yellow with black
// stripes) and captions name it; shape alone was not enough. Drafts of v2
// (each trained and run through `ovseg demo`; host/models/embedded/README.md)
// showed more: plain objects (a pink flower, a lime frog) and objects in
// stuff colours (white boats and balls, a dark green tree, cyan kites) were
// labelled as the stuff of that colour, and two classes that share both
// colours (a red ladybug with black dots, a black flag with red checks) were
// confused. So here
//   - every object class has a two-tone pattern in a signature of its own:
//     no two classes share the same pair of colours, at most three share a
//     main colour, and those differ in pattern;
//   - things use a palette of 11 hues none of which is a stuff colour;
//   - parts are classes with looks of their own (a navy tiled roof on an
//     orange brick house with a teal door); the instance map covers the
//     whole object, the part map each part.
#include "catalog_v2.hpp"

#include "../versions.hpp"

namespace ovseg::world::v2 {

namespace {

ClassSpec stuff(std::vector<Noun> nouns) { return {Kind::Stuff, std::move(nouns), {}, -1, -1}; }

ClassSpec object(std::vector<Noun> nouns, Look look, int alt_colour = -1) {
  return {Kind::Object, std::move(nouns), look, alt_colour, -1};
}

ClassSpec part(std::vector<Noun> nouns, Look look, int whole) {
  return {Kind::Part, std::move(nouns), look, -1, whole};
}

}  // namespace

const Colour& colour(int id) {
  static const std::vector<Colour> palette = {{"red", 220, 30, 30},     {"orange", 250, 140, 20},
                                              {"yellow", 245, 225, 30}, {"lime", 170, 230, 30},
                                              {"teal", 0, 140, 140},    {"navy", 25, 30, 130},
                                              {"purple", 130, 40, 190}, {"magenta", 220, 30, 180},
                                              {"pink", 250, 150, 210},  {"maroon", 120, 20, 40},
                                              {"black", 20, 20, 20}};
  return palette.at(static_cast<size_t>(id));
}

cv::Vec3d colour_bgr(int id) {
  const Colour& c = colour(id);
  return {c.b, c.g, c.r};
}

const std::vector<std::string>& pattern_words(Pattern p) {
  static const std::vector<std::vector<std::string>> words = {
      {"plain"},           {"striped"}, {"dotted", "spotted"}, {"checkered", "chequered"}, {"plaid", "gridded"},
      {"ringed", "swirly"}};
  return words.at(static_cast<size_t>(p));
}

const std::vector<ClassSpec>& catalog() {
  using P = Pattern;
  static const std::vector<ClassSpec> c = {
      stuff({{"grass", "grass"}, {"lawn", "lawn"}, {"meadow", "meadow"}}),
      stuff({{"water", "water"}, {"sea", "sea"}, {"lake", "lake"}}),
      stuff({{"sand", "sand"}, {"beach", "beach"}, {"desert", "desert"}}),
      stuff({{"snow", "snow"}, {"snowfield", "snowfield"}, {"snowdrift", "snowdrifts"}}),
      stuff({{"road", "road"}, {"street", "street"}, {"asphalt", "asphalt"}}),
      stuff({{"dirt", "dirt"}, {"soil", "soil"}, {"mud", "mud"}}),
      object({{"house", "houses"}, {"home", "homes"}, {"cottage", "cottages"}}, {kOrange, P::Grid, kMaroon}),
      part({{"roof", "roofs"}, {"rooftop", "rooftops"}}, {kNavy, P::Stripes, kOrange}, kHouse),
      part({{"door", "doors"}, {"front door", "front doors"}}, {kTeal, P::Stripes, kYellow}, kHouse),
      object({{"tree", "trees"}, {"apple tree", "apple trees"}, {"fruit tree", "fruit trees"}},
             {kLime, P::Dots, kPurple}),
      part({{"trunk", "trunks"}, {"bark", "barks"}}, {kMaroon, P::Stripes, kBlack}, kTree),
      object({{"car", "cars"}, {"automobile", "automobiles"}, {"sedan", "sedans"}}, {kRed, P::Stripes, kYellow}, kNavy),
      part({{"wheel", "wheels"}, {"tire", "tires"}, {"tyre", "tyres"}}, {kBlack, P::Rings, kPink}, kCar),
      object({{"boat", "boats"}, {"ship", "ships"}, {"rowboat", "rowboats"}}, {kTeal, P::Checks, kRed}),
      object({{"fish", "fish"}, {"goldfish", "goldfish"}, {"carp", "carps"}}, {kOrange, P::Stripes, kTeal}),
      object({{"ladybug", "ladybugs"}, {"ladybird", "ladybirds"}, {"beetle", "beetles"}}, {kRed, P::Dots, kBlack}),
      object({{"bee", "bees"}, {"bumblebee", "bumblebees"}, {"honeybee", "honeybees"}}, {kYellow, P::Stripes, kBlack}),
      object({{"flower", "flowers"}, {"blossom", "blossoms"}, {"bloom", "blooms"}}, {kPink, P::Dots, kYellow}),
      object({{"ball", "balls"}, {"beach ball", "beach balls"}, {"football", "footballs"}},
             {kMagenta, P::Stripes, kYellow}),
      object({{"umbrella", "umbrellas"}, {"parasol", "parasols"}}, {kPurple, P::Stripes, kPink}),
      object({{"kite", "kites"}}, {kMagenta, P::Checks, kLime}),
      object({{"balloon", "balloons"}, {"party balloon", "party balloons"}}, {kRed, P::Rings, kPink}),
      object({{"star", "stars"}, {"star shape", "star shapes"}}, {kYellow, P::Dots, kNavy}),
      object({{"flag", "flags"}, {"banner", "banners"}, {"racing flag", "racing flags"}}, {kBlack, P::Checks, kOrange}),
      object({{"gift", "gifts"}, {"present", "presents"}, {"parcel", "parcels"}}, {kPurple, P::Grid, kYellow}),
      object({{"turtle", "turtles"}, {"tortoise", "tortoises"}}, {kTeal, P::Grid, kBlack}),
      object({{"lollipop", "lollipops"}, {"candy", "candies"}}, {kPink, P::Rings, kNavy}),
      object({{"snail", "snails"}}, {kMaroon, P::Rings, kYellow}),
      object({{"moon", "moons"}, {"crescent", "crescents"}, {"crescent moon", "crescent moons"}},
             {kPurple, P::Dots, kOrange}),
      object({{"frog", "frogs"}, {"toad", "toads"}}, {kLime, P::Stripes, kNavy}),
  };
  return c;
}

const std::vector<WorldClass>& classes() {
  static const std::vector<WorldClass> out = [] {
    std::vector<WorldClass> v;
    for (const ClassSpec& s : catalog()) {
      WorldClass wc;
      for (const Noun& n : s.nouns) wc.synonyms.push_back(n.singular);
      wc.name = wc.synonyms.front();
      wc.thing = s.kind != Kind::Stuff;
      if (s.kind == Kind::Part) wc.part_of = catalog()[static_cast<size_t>(s.whole)].nouns.front().singular;
      v.push_back(wc);
    }
    return v;
  }();
  return out;
}

// The default zero-shot split (8 of 30 classes, 27%): two of the six stuff
// classes and six of the twenty objects, of every kind the world has
// (textures, animals, plants, toys). Each has a colour pair no seen class
// has, so a model that learned the seen classes cannot get an unseen one
// right by look alone: it must use the class name, which the CLIP learned
// from captions. And each is one the shipped world CLIP segments well above
// chance with the training-free pipelines (host/models/embedded/README.md),
// so the split measures transfer, not classes nothing can find. Parts are
// all seen: the CLIP does not segment them apart from their wholes.
std::vector<std::string> unseen_classes() {
  return {"snow", "dirt", "tree", "flower", "kite", "flag", "snail", "frog"};
}

}  // namespace ovseg::world::v2
