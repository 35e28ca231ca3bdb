// Training SAM on instance masks the way the SAM paper describes it (Kirillov
// et al. 2023, appendix "Training algorithm"): simulated interactive
// segmentation, focal + dice loss at 20 : 1, and the IoU head regressed with
// MSE on the predicted masks' true IoU; through the same SamModel code the
// pipelines run, with ovseg's generic trainer.
//
// Per sample and step:
//  * the first prompt is, with equal probability, a foreground point drawn
//    uniformly from the mask or the mask's box with noise of std 10% of the
//    side (at most 20 px) per coordinate; it is decoded with three outputs
//    and only the lowest-loss one is back-propagated (ambiguity);
//  * then `points` clicks, each drawn uniformly from the error region of the
//    previous prediction (foreground where it missed the mask, background
//    where it spilled over), with the previous low-res logits as a mask
//    prompt; these are decoded with the single-mask token;
//  * finally `refinements` iterations with no new click, only the mask.
// SAM runs 1 + 8 + 2 iterations (one refinement inserted at random among
// the clicks); the defaults here (1 + 3 + 1) fit a CPU budget. The losses of
// all iterations are averaged. Assumptions where the paper is silent:
// focal loss alpha 0.25, gamma 2 (RetinaNet's); losses at the image
// resolution; the mask prompt is detached between iterations; the point-or-
// box choice is made per step for the whole batch.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "ovseg/models/sam_model.hpp"
#include "ovseg/train/instance_set.hpp"
#include "ovseg/train/trainer.hpp"

namespace ovseg::train {

struct SamTrainOptions {
  int64_t batch = 16;  // (image, instance) pairs per step
  uint64_t seed = 0;
  int64_t points = 3;          // error-region clicks after the first prompt (SAM: 8)
  int64_t refinements = 1;     // iterations with only the mask prompt (SAM: 2)
  int64_t min_area = 16;       // instances smaller than this (pixels) are not trained on
  double focal_weight = 20.0;  // SAM: focal : dice = 20 : 1
  double dice_weight = 1.0;
  double iou_weight = 1.0;  // SAM: IoU MSE added with scale 1.0
  bool horizontal_flip = true;
};

class SamInteractiveTask final : public TrainTask {
 public:
  // The data's images must already have the model's input size (square,
  // image_size): the trainer then sees exactly what the predictor feeds the
  // encoder. `data` must outlive the task.
  SamInteractiveTask(std::shared_ptr<models::SamModel> model, const InstanceSet& data, SamTrainOptions options);

  NamedTensors parameters() override;
  at::Tensor loss(int64_t step) override;
  // The last step's terms (means over samples and iterations): "focal",
  // "dice", "iou_mse", and "mask_iou", the true IoU of the last iteration's
  // kept masks (a gauge, not optimised).
  std::map<std::string, double> last_terms() override { return terms_; }

  // (image index, instance id) pairs of a step: consecutive slices of
  // per-epoch shuffles of all instances, a function of (seed, step) only.
  std::vector<std::pair<int64_t, int64_t>> batch_samples(int64_t step);
  int64_t num_instances() const { return static_cast<int64_t>(pairs_.size()); }

 private:
  std::shared_ptr<models::SamModel> model_;
  const InstanceSet& data_;
  SamTrainOptions opt_;
  std::vector<std::pair<int64_t, int64_t>> pairs_;
  int64_t cached_epoch_ = -1;
  std::vector<int64_t> permutation_;
  std::map<std::string, double> terms_;
};

// sigmoid focal loss (mean over pixels) and dice loss (per mask) of logits
// (B,H,W) against binary targets (B,H,W); both return (B).
at::Tensor sam_focal_loss(const at::Tensor& logits, const at::Tensor& targets, double alpha = 0.25, double gamma = 2.0);
at::Tensor sam_dice_loss(const at::Tensor& logits, const at::Tensor& targets);

// Writes the model as fp16 safetensors in the official key layout (what
// SamModel::load reads back) with `metadata`.
void save_sam_fp16_safetensors(const std::string& path, const models::SamModel& model,
                               const std::map<std::string, std::string>& metadata);

}  // namespace ovseg::train
