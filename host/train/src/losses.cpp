#include "ovseg/train/losses.hpp"

#include <stdexcept>

#include <ATen/ATen.h>

namespace ovseg::train {

namespace {

void check(const at::Tensor& logits, const at::Tensor& target, const char* what) {
  if (logits.dim() != 4 || target.dim() != 3 || logits.size(0) != target.size(0) || logits.size(2) != target.size(1) ||
      logits.size(3) != target.size(2))
    throw std::invalid_argument(std::string(what) + ": logits " + std::to_string(logits.dim()) +
                                "-d (B,K,H,W) and targets (B,H,W) of the same B, H, W expected");
}

// (B,K,H,W) one-hot of target (ignored pixels all zero) and (B,1,H,W) valid mask.
std::pair<at::Tensor, at::Tensor> one_hot(const at::Tensor& logits, const at::Tensor& target, int64_t ignore) {
  const int64_t K = logits.size(1);
  at::Tensor valid = (target != ignore);
  at::Tensor safe = target.masked_fill(~valid, 0);
  if (K > 0 && safe.numel() > 0 && safe.max().item<int64_t>() >= K)
    throw std::invalid_argument("loss: a target class index is >= the " + std::to_string(K) + " logit channels");
  at::Tensor oh = at::one_hot(safe, K).permute({0, 3, 1, 2}).to(logits.scalar_type());
  at::Tensor v = valid.unsqueeze(1).to(logits.scalar_type());
  return {oh * v, v};
}

at::Tensor focal_terms(const at::Tensor& x, const at::Tensor& t, double alpha, double gamma) {
  // torchvision.ops.sigmoid_focal_loss, elementwise.
  at::Tensor p = at::sigmoid(x);
  at::Tensor ce = at::binary_cross_entropy_with_logits(x, t, {}, {}, at::Reduction::None);
  at::Tensor p_t = p * t + (1 - p) * (1 - t);
  at::Tensor loss = ce * at::pow(1 - p_t, gamma);
  if (alpha >= 0) loss = (alpha * t + (1 - alpha) * (1 - t)) * loss;
  return loss;
}

}  // namespace

at::Tensor cross_entropy_loss(const at::Tensor& logits, const at::Tensor& target, int64_t ignore) {
  check(logits, target, "ce");
  if ((target != ignore).sum().item<int64_t>() == 0) return (logits * 0).sum();
  return at::cross_entropy_loss(logits, target, {}, at::Reduction::Mean, ignore);
}

at::Tensor bce_one_hot_loss(const at::Tensor& logits, const at::Tensor& target, int64_t ignore) {
  check(logits, target, "bce");
  auto [oh, valid] = one_hot(logits, target, ignore);
  return at::binary_cross_entropy_with_logits(logits, oh);
}

at::Tensor focal_loss(const at::Tensor& logits, const at::Tensor& target, int64_t ignore, double alpha, double gamma) {
  check(logits, target, "focal");
  auto [oh, valid] = one_hot(logits, target, ignore);
  const at::Tensor n = valid.sum() * logits.size(1);
  return (focal_terms(logits, oh, alpha, gamma) * valid).sum() / n.clamp_min(1);
}

at::Tensor dice_loss(const at::Tensor& logits, const at::Tensor& target, int64_t ignore) {
  check(logits, target, "dice");
  auto [oh, valid] = one_hot(logits, target, ignore);
  at::Tensor p = at::sigmoid(logits) * valid;
  at::Tensor num = 2 * (p * oh).sum({2, 3}) + 1;
  at::Tensor den = p.sum({2, 3}) + oh.sum({2, 3}) + 1;
  return (1 - num / den).mean();
}

at::Tensor mask_focal_loss(const at::Tensor& logits, const at::Tensor& target, int64_t ignore, double alpha,
                           double gamma) {
  check(logits, target, "mask_focal");
  auto [oh, valid] = one_hot(logits, target, ignore);
  const at::Tensor present = (oh.sum({2, 3}) > 0).sum().to(logits.scalar_type());
  return focal_terms(logits, oh, alpha, gamma).mean({2, 3}).sum() / present.clamp_min(1);
}

at::Tensor mask_dice_loss(const at::Tensor& logits, const at::Tensor& target, int64_t ignore) {
  check(logits, target, "mask_dice");
  auto [oh, valid] = one_hot(logits, target, ignore);
  const at::Tensor t = oh.sum({2, 3});
  const at::Tensor present = (t > 0).to(logits.scalar_type());
  at::Tensor p = at::sigmoid(logits);
  at::Tensor dice = 1 - (2 * (p * oh).sum({2, 3}) + 1) / (p.sum({2, 3}) + t + 1);
  return (dice * present).sum() / present.sum().clamp_min(1);
}

at::Tensor binary_focal_loss(const at::Tensor& mask_logits, const at::Tensor& masks, double alpha, double gamma) {
  return focal_terms(mask_logits, masks.to(mask_logits.scalar_type()), alpha, gamma).mean();
}

at::Tensor binary_dice_loss(const at::Tensor& mask_logits, const at::Tensor& masks) {
  at::Tensor p = at::sigmoid(mask_logits).flatten(1);
  at::Tensor t = masks.to(mask_logits.scalar_type()).flatten(1);
  return (1 - (2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)).mean();
}

const std::vector<std::string>& pixel_loss_names() {
  static const std::vector<std::string> names = {"ce", "bce", "focal", "dice", "mask_focal", "mask_dice"};
  return names;
}

at::Tensor pixel_loss(const std::string& name, const at::Tensor& logits, const at::Tensor& target, int64_t ignore) {
  if (name == "ce") return cross_entropy_loss(logits, target, ignore);
  if (name == "bce") return bce_one_hot_loss(logits, target, ignore);
  if (name == "focal") return focal_loss(logits, target, ignore);
  if (name == "dice") return dice_loss(logits, target, ignore);
  if (name == "mask_focal") return mask_focal_loss(logits, target, ignore);
  if (name == "mask_dice") return mask_dice_loss(logits, target, ignore);
  throw std::invalid_argument("unknown pixel loss '" + name + "' (ce, bce, focal, dice, mask_focal, mask_dice)");
}

}  // namespace ovseg::train
