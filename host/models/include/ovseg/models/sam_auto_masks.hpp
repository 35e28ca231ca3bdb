#pragma once
// SAM's automatic mask generator: segment_anything/automatic_mask_generator.py
// (SamAutomaticMaskGenerator.generate) with utils/amg.py: a point grid per
// crop layer, three masks per point, the predicted-IoU and stability-score
// filters, box NMS within and across crops, optional removal of small holes
// and islands. Defaults are SamAutomaticMaskGenerator's.

#include <ovseg/models/sam_predictor.hpp>

#include <array>
#include <vector>

namespace ovseg::models {

struct SamAutoMaskOptions {
  int64_t points_per_side = 32;
  int64_t points_per_batch = 64;
  double pred_iou_thresh = 0.88;
  double stability_score_thresh = 0.95;
  double stability_score_offset = 1.0;
  double box_nms_thresh = 0.7;
  int64_t crop_n_layers = 0;
  double crop_nms_thresh = 0.7;
  double crop_overlap_ratio = 512.0 / 1500.0;
  int64_t crop_n_points_downscale_factor = 1;
  int64_t min_mask_region_area = 0;
};

// One generated mask (the reference's record, plus the logits it came from).
struct SamMaskRecord {
  at::Tensor segmentation;  // (H,W) bool, the original image's size
  // (H,W) float: the decoder's upsampled logits (> 0 inside, as
  // `segmentation`); pixels outside the mask's crop hold kSamOutsideCropLogit,
  // pixels changed by min_mask_region_area hold +1 (added) or -1 (removed).
  at::Tensor logits;
  int64_t area = 0;
  std::array<double, 4> bbox{};  // x, y, w, h
  double predicted_iou = 0;
  double stability_score = 0;
  std::array<double, 2> point{};      // the grid point (x, y) that made it, image pixels
  std::array<int64_t, 4> crop_box{};  // x, y, w, h
};
inline constexpr float kSamOutsideCropLogit = -1e4f;

// generate(): `rgb_hwc` (H,W,3) uint8. `full_image_embeddings`, when given,
// are the encoder's output for the whole image (crop layer 0), e.g. from a
// pipeline's encoder node; crops are always encoded here.
std::vector<SamMaskRecord> sam_generate_masks(std::shared_ptr<const SamModel> model, const at::Tensor& rgb_hwc,
                                              const SamAutoMaskOptions& options,
                                              const at::Tensor& full_image_embeddings = at::Tensor());

// ---- the steps of utils/amg.py, exposed for tests ----
// build_point_grid(n): (n*n, 2) float64 in [0,1], x varying fastest.
at::Tensor sam_point_grid(int64_t n_per_side);
// generate_crop_boxes: crop boxes (x0, y0, x1, y1) and their layer indices.
std::vector<std::array<int64_t, 4>> sam_crop_boxes(int64_t h, int64_t w, int64_t n_layers, double overlap_ratio,
                                                   std::vector<int64_t>* layer_idxs);
// calculate_stability_score: IoU of the masks thresholded at +-offset.
at::Tensor sam_stability_score(const at::Tensor& logits, double mask_threshold, double offset);
// batched_mask_to_box: (N,H,W) bool -> (N,4) int64 x0,y0,x1,y1 (zeros for empty masks).
at::Tensor sam_masks_to_boxes(const at::Tensor& masks);
// torchvision.ops.nms (stable for ties): kept indices, highest score first.
at::Tensor sam_box_nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold);
// remove_small_regions(mask, area, "holes" | "islands"): the new mask, and
// whether it changed.
at::Tensor sam_remove_small_regions(const at::Tensor& mask, double area_thresh, bool holes, bool* changed);

}  // namespace ovseg::models
