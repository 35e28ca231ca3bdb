// Zero-shot (seen / unseen) evaluation, as the zero-shot segmentation
// literature reports it (ZS3Net, SPNet, ZegFormer, ZegCLIP, CLIP-RC): a model
// trains on the seen classes only (unseen pixels ignored, unseen names never
// shown) and is evaluated on all classes; mIoU is reported over the seen
// classes, over the unseen classes, and as their harmonic mean
// hIoU = 2 S U / (S + U).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "ovseg/harness/dataset.hpp"
#include "ovseg/harness/metrics.hpp"

namespace ovseg::harness {

struct ZeroShotSplit {
  std::vector<std::string> unseen;  // display names (first synonym) of the unseen classes
  std::string source;               // where the split came from, for records and tables
  bool empty() const { return unseen.empty(); }
};

// The split a data set declares, or an empty one:
//   folder        ROOT/unseen_classes.txt when present (`ovseg world` writes it)
//   voc20, voc21  ZS3Net / ZegCLIP's 15 seen / 5 unseen: pottedplant, sheep,
//                 sofa, train, tv monitor
//   coco_stuff171 SPNet / ZegFormer / ZegCLIP's 156 seen / 15 unseen: frisbee,
//                 skateboard, cardboard, carrot, scissors, suitcase, giraffe,
//                 cow, road, wall-concrete, tree, grass, river, clouds,
//                 playingfield
ZeroShotSplit declared_zero_shot_split(const Dataset& ds);

// One class name per line ('#' comments and blank lines skipped); throws
// std::runtime_error naming the file if it cannot be read.
ZeroShotSplit read_unseen_file(const std::string& path);

// `--unseen`: "none", a file (one name per line) or a comma-separated list.
ZeroShotSplit parse_unseen_argument(const std::string& argument);

// unseen[c] for each class; throws std::invalid_argument naming a split class
// that is not one of `classes` (nearest names suggested), or a split that
// leaves no seen class.
std::vector<bool> unseen_mask(const ZeroShotSplit& split, const std::vector<std::string>& classes);

struct ZeroShotMetrics {
  double seen_miou = 0, unseen_miou = 0, hiou = 0;  // percent; NaN when undefined
  int seen_classes = 0, unseen_classes = 0;
};
// mIoU(seen) and mIoU(unseen) are nan-means of the per-class IoU (classes
// absent from ground truth and prediction do not count, as in mIoU).
ZeroShotMetrics zero_shot_metrics(const SegmentationMetrics& m, const std::vector<bool>& unseen);

// {"unseen": [...], "source": ..., "mIoU_seen", "mIoU_unseen", "hIoU", ...}
nlohmann::json zero_shot_to_json(const ZeroShotSplit& split, const ZeroShotMetrics& z);

}  // namespace ovseg::harness
