// Training-time augmentation of one (image, label) pair, as mmsegmentation's
// training pipelines do it: RandomResize (keep ratio, scale x uniform ratio),
// RandomCrop with cat_max_ratio, RandomFlip, PhotoMetricDistortion, Pad.
// Every random draw comes from `seed`, so a sample's augmentation is a pure
// function of (run seed, step, index in batch): resumed runs see the same.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <opencv2/core/mat.hpp>

#include "ovseg/sdk/left_right_pairs.hpp"

namespace ovseg::train {

struct AugmentOptions {
  // RandomResize(scale=(max_long_side, short_side), ratio_range, keep_ratio):
  // mmcv.rescale_size with the scale times a uniform ratio. short_side 0 keeps
  // the image's own size (times the ratio).
  int short_side = 0;
  int max_long_side = 2048;
  double ratio_min = 0.5, ratio_max = 2.0;
  // RandomCrop(crop, cat_max_ratio): up to 10 draws until no class covers more
  // than cat_max_ratio of the crop's labelled pixels (1 = accept the first).
  // Smaller images are padded (image 0, label ignore) to crop x crop.
  int crop = 512;
  double cat_max_ratio = 0.75;
  bool flip = true;  // horizontal, probability 0.5
  // Class ids exchanged in a flipped crop: a mirrored left arm is a right arm
  // (human parsing: LIP / CIHP's 14<->15, 16<->17, 18<->19, as CE2P / SCHP
  // flip their labels). nullopt: the trainer derives the pairs from the
  // class names (left_right_pairs); augment_sample then treats it as none.
  std::optional<std::vector<std::pair<int, int>>> flip_swap;
  bool photometric = true;  // PhotoMetricDistortion: brightness 32, contrast and
                            // saturation [0.5, 1.5], hue 18, each with p = 0.5
  int ignore_index = 255;
};

struct AugmentedSample {
  cv::Mat image;      // CV_8UC3 BGR, crop x crop
  cv::Mat label;      // CV_32SC1, crop x crop
  cv::Mat instances;  // CV_32SC1 instance ids (0 = none, also the padding); empty if none given
};

// image: CV_8UC3 BGR; label: CV_32SC1 of the same size; instances (optional,
// may be empty): CV_32SC1 ids of the same size, moved with the label. The
// random draws do not depend on whether instances are given.
AugmentedSample augment_sample(const cv::Mat& image, const cv::Mat& label, const AugmentOptions& options, uint64_t seed,
                               const cv::Mat& instances = cv::Mat());

// The trainer derives flip_swap from the class names with the SDK's pairing.
using ovseg::left_right_pairs;

// A seed for one sample: mixes (run seed, step, index) with splitmix64.
uint64_t sample_seed(uint64_t run_seed, int64_t step, int64_t index);

}  // namespace ovseg::train
