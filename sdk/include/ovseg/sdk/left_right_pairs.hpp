// Left/right class pairs of human-parsing label sets.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace ovseg {

// Pairs (a, b) of classes named "left X" and "right X" (case-insensitive),
// e.g. LIP's (14, 15), (16, 17), (18, 19); empty when no names pair up. A
// mirrored left arm is a right arm: the trainer's flip_swap and SCHNet's
// flip test-time augmentation both exchange these.
std::vector<std::pair<int, int>> left_right_pairs(const std::vector<std::string>& display_names);

}  // namespace ovseg
