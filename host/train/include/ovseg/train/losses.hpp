// Segmentation losses on logits (B,K,H,W) and targets (B,H,W) int64 class
// indices, `ignore` marking pixels that count for nothing (void, and in a
// zero-shot split the unseen classes). Each is the formula of the code named
// beside it; all return a scalar.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace ovseg::train {

// Per-pixel softmax cross-entropy, mean over non-ignored pixels
// (torch.nn.functional.cross_entropy(ignore_index=ignore), as mmseg's
// CrossEntropyLoss). 0 when every pixel is ignored.
at::Tensor cross_entropy_loss(const at::Tensor& logits, const at::Tensor& target, int64_t ignore);

// CAT-Seg's loss (cat_seg_model.py): binary cross-entropy with logits against
// one-hot targets, mean over every pixel and class. Ignored pixels get an
// all-zero target and still count, exactly as CAT-Seg writes it.
at::Tensor bce_one_hot_loss(const at::Tensor& logits, const at::Tensor& target, int64_t ignore);

// Sigmoid focal loss on one-hot targets (Lin et al.; torchvision's / fvcore's
// sigmoid_focal_loss: alpha-weighted, (1-p_t)^gamma modulated BCE), mean over
// the non-ignored pixels' K class entries.
at::Tensor focal_loss(const at::Tensor& logits, const at::Tensor& target, int64_t ignore, double alpha = 0.25,
                      double gamma = 2.0);

// Dice loss per (image, class) mask on sigmoid probabilities, DETR / SAM's
// form 1 - (2 sum(p t) + 1) / (sum p + sum t + 1), ignored pixels left out,
// mean over the B*K masks.
at::Tensor dice_loss(const at::Tensor& logits, const at::Tensor& target, int64_t ignore);

// The mask losses of ZegCLIP's / CLIP-RC's SegPlusCriterion (MaskFormer's
// criterion with one mask per class): the K logit channels are per-class
// sigmoid masks; a (image, class) mask is "present" when the class has a
// non-ignored pixel in the image, and both sums are divided by the number of
// present masks (at least 1).
//  - mask_focal: the focal loss above, averaged over ALL pixels of each
//    (image, class) mask and summed over every mask, present or not. Ignored
//    pixels (void, unseen, padding) count with an all-zero target, exactly as
//    the criterion's one-hot targets treat them.
//  - mask_dice: the dice form above over all pixels, summed over the present
//    masks only.
at::Tensor mask_focal_loss(const at::Tensor& logits, const at::Tensor& target, int64_t ignore, double alpha = 0.25,
                           double gamma = 2.0);
at::Tensor mask_dice_loss(const at::Tensor& logits, const at::Tensor& target, int64_t ignore);

// The same focal and dice on mask logits (N,H,W) against binary masks
// (N,H,W) in {0,1} (SAM's mask losses; no ignore).
at::Tensor binary_focal_loss(const at::Tensor& mask_logits, const at::Tensor& masks, double alpha = 0.25,
                             double gamma = 2.0);
at::Tensor binary_dice_loss(const at::Tensor& mask_logits, const at::Tensor& masks);

// The names [train.losses] accepts for the built-in pixel losses.
const std::vector<std::string>& pixel_loss_names();  // ce, bce, focal, dice, mask_focal, mask_dice
// Dispatch by name; throws std::invalid_argument for an unknown one.
at::Tensor pixel_loss(const std::string& name, const at::Tensor& logits, const at::Tensor& target, int64_t ignore);

}  // namespace ovseg::train
