// Internal: each world version's classes and renderer, behind the public
// dispatch in world.cpp.
#pragma once

#include <string>
#include <vector>

#include "ovseg/world/world.hpp"

namespace ovseg::world {

namespace v1 {
const std::vector<WorldClass>& classes();
Scene render(uint64_t scene_seed, int width, int height);
}  // namespace v1

namespace v2 {
const std::vector<WorldClass>& classes();
std::vector<std::string> unseen_classes();
Scene render(uint64_t scene_seed, int width, int height);
}  // namespace v2

// Renumbers `drawn` (CV_16UC1, ids in drawing order, 0 = none) so the ids
// still visible become 1..n in drawing order; returns n.
int renumber_visible(cv::Mat& drawn);

}  // namespace ovseg::world
