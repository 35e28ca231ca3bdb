// Single-click evaluation of a promptable segmenter on instance masks: one
// click at each object's most interior pixel, SAM's single-mask output, the
// best of its three multimask outputs (oracle) and the one it scores highest,
// against a trivial baseline: a colour flood fill from the same click.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "ovseg/models/sam_model.hpp"
#include "ovseg/train/instance_set.hpp"

namespace ovseg::train {

// The pixel (x, y) of a mask farthest from its border (L2 distance
// transform; among ties the one nearest their centroid).
std::pair<int64_t, int64_t> interior_point(const at::Tensor& mask);

// Pixels reached from (x, y) by an 8-connected flood fill on colour:
// `fixed_range` compares with the seed's colour, else with the neighbour's;
// `tolerance` per channel (cv::floodFill loDiff = upDiff). (H,W) bool.
at::Tensor colour_flood_fill(const at::Tensor& rgb_hwc, int64_t x, int64_t y, int tolerance, bool fixed_range);

struct ClickEvalResult {
  int64_t instances = 0;       // objects evaluated (area >= min_area)
  double single_iou = 0;       // mean IoU, multimask_output = False
  double best_of_3_iou = 0;    // mean IoU of the best of the 3 multimask masks (oracle)
  double chosen_of_3_iou = 0;  // mean IoU of the multimask mask with the highest predicted IoU
  double flood_fill_iou = 0;   // the baseline, at its best tolerance and mode on this set
  int flood_tolerance = 0;
  bool flood_fixed_range = false;
};

// Runs SamPredictor per image (the exact inference path) on every instance of
// at least `min_area` pixels.
ClickEvalResult evaluate_single_clicks(std::shared_ptr<const models::SamModel> model, const InstanceSet& data,
                                       int64_t min_area = 16);

}  // namespace ovseg::train
