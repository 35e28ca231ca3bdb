// Internal: world v2's captions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "catalog_v2.hpp"

namespace ovseg::world::v2 {

enum class Size : int { Small = 0, Medium, Big };

struct CaptionPart {
  int cls;
  int colour;
  int count;  // visible instances of this part class on the object
};

struct CaptionThing {
  int cls;
  int colour;
  Pattern pattern;
  Size size;
  std::vector<CaptionPart> parts;  // visible parts
};

// A sentence naming the visible objects (grouped and counted, now and then
// with their size, pattern, colour and parts) and, in half of the captions
// (all captions of scenes without objects), the stuff; synonyms and
// templates are drawn from `seed`.
std::string compose_caption(const std::vector<CaptionThing>& things, const std::vector<int>& stuff, uint64_t seed);

}  // namespace ovseg::world::v2
