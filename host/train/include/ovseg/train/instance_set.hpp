// Instance-mask data sets for promptable segmentation: the folder layout
// `ovseg world` (v2) writes, ROOT/SPLIT/images/ID.png and
// ROOT/SPLIT/instances/ID.png (16-bit, 0 = no instance, k > 0 = instance k).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace ovseg::train {

struct InstanceSet {
  std::vector<std::string> ids;
  at::Tensor images;     // (N,H,W,3) uint8 RGB (SamPredictor's layout), all one size
  at::Tensor instances;  // (N,H,W) int16 instance ids, 0 = none
  // True when the split had no instances/ folder and instances were derived
  // from labels/ (connected components of thing classes; see below).
  bool derived_from_labels = false;
};

// Reads the first `limit` (0 = all) images of ROOT/SPLIT/images in name
// order with their instance maps. When ROOT/SPLIT/instances is absent but
// ROOT/SPLIT/labels (class indices) is present and `is_thing` is given, each
// 8-connected component of a thing class becomes an instance (touching
// objects of one class merge, an occluded object may split): the fallback for
// world v1 folders. Errors name the file.
InstanceSet load_instance_folder(const std::string& root, const std::string& split, int64_t limit = 0,
                                 const std::function<bool(int)>& is_thing = {});

// Instances of one map with at least `min_area` pixels: their ids, ascending.
std::vector<int64_t> instance_ids(const at::Tensor& instance_map, int64_t min_area);

}  // namespace ovseg::train
