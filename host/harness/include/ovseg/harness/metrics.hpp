// Segmentation metrics from a confusion matrix, with mmsegmentation's
// conventions (IoUMetric): all values are percentages in [0, 100].
//   IoU_c  = TP_c / (gt_c + pred_c - TP_c); NaN when the union is 0 (class
//            absent from ground truth and prediction).
//   Acc_c  = TP_c / gt_c; NaN when gt_c == 0.
//   mIoU   = mean of the non-NaN IoU_c (numpy nanmean); mAcc likewise.
//   aAcc   = sum_c TP_c / sum_c gt_c (pixel accuracy).
//   fwIoU  = sum over classes with gt_c > 0 of (gt_c / total) * IoU_c.
// With nothing counted every value is NaN.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "ovseg/harness/confusion_matrix.hpp"

namespace ovseg::harness {

struct SegmentationMetrics {
  std::vector<double> iou;                // per class, percent, NaN if union == 0
  std::vector<double> accuracy;           // per class, percent, NaN if gt_c == 0
  std::vector<std::int64_t> gt_pixels;    // per class ground-truth pixels
  std::vector<std::int64_t> pred_pixels;  // per class predicted pixels
  double miou = 0;
  double macc = 0;
  double aacc = 0;
  double fwiou = 0;
  int num_valid_classes = 0;  // classes with a non-NaN IoU (mIoU's divisor)
};

SegmentationMetrics compute_metrics(const ConfusionMatrix& cm);

// Mean of the non-NaN entries; NaN when there are none.
double nanmean(const std::vector<double>& v);

// {"mIoU":..,"mAcc":..,"aAcc":..,"fwIoU":..,"per_class":[{"name","iou",
// "acc","gt_pixels","pred_pixels"}...]}; NaN is written as null. names may
// be empty (then "name" is omitted) or have one entry per class.
nlohmann::json metrics_to_json(const SegmentationMetrics& m, const std::vector<std::string>& names = {});

}  // namespace ovseg::harness
