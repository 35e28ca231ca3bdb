#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x

#include "chimera_losses.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace ovseg::chimera {

namespace {

constexpr double kPi = 3.14159265358979323846;

at::Tensor unit(const at::Tensor& t, int64_t dim) { return t / t.norm(2, {dim}, /*keepdim=*/true).clamp_min(1e-12); }

void expect_dense(const at::Tensor& dense, const char* what) {
  if (dense.dim() != 4)
    throw std::invalid_argument(std::string(what) + ": dense features must be (B,D,h,w), got " +
                                std::to_string(dense.dim()) + " dimensions");
}

}  // namespace

double sgd_keep_ratio(const std::string& schedule, double start, double end, int64_t step, int64_t total) {
  const double t = total <= 0 ? 1.0 : std::clamp(static_cast<double>(step) / static_cast<double>(total), 0.0, 1.0);
  if (schedule == "linear") return start + (end - start) * t;
  if (schedule == "cosine") return end + (start - end) * 0.5 * (1.0 + std::cos(kPi * t));
  if (schedule == "step") return t < 0.5 ? start : end;
  if (schedule == "constant") return start;
  throw std::invalid_argument("unknown SGD schedule '" + schedule + "' (linear, cosine, step, constant)");
}

int64_t sgd_keep_count(double ratio, int64_t n) {
  // A hair under the exact product first, so 0.25 * 64 stays 16 despite rounding.
  const auto k = static_cast<int64_t>(std::ceil(ratio * static_cast<double>(n) - 1e-9));
  return std::clamp<int64_t>(k, 1, std::max<int64_t>(n, 1));
}

at::Tensor sgd_selection(const at::Tensor& dense, const at::Tensor& teacher, int64_t keep) {
  expect_dense(dense, "SGD selection");
  at::NoGradGuard no_grad;
  const at::Tensor d = unit(dense.flatten(2), 1);                         // (B,D,N)
  const at::Tensor t = unit(teacher.to(dense.scalar_type()), 1);          // (B,D)
  const at::Tensor sim = at::bmm(t.unsqueeze(1), d).squeeze(1);           // (B,N)
  return std::get<1>(sim.topk(std::min<int64_t>(keep, sim.size(1)), 1));  // most similar first
}

at::Tensor selective_global_distillation(const at::Tensor& dense, const at::Tensor& teacher, int64_t keep,
                                         const std::string& form, double tau) {
  expect_dense(dense, "SGD");
  if (teacher.dim() != 2 || teacher.size(0) != dense.size(0) || teacher.size(1) != dense.size(1))
    throw std::invalid_argument("SGD: the teacher embedding must be (B,D) = (" + std::to_string(dense.size(0)) + ", " +
                                std::to_string(dense.size(1)) + "), got " + std::to_string(teacher.dim()) +
                                " dimensions");
  const int64_t B = dense.size(0), D = dense.size(1);
  const at::Tensor idx = sgd_selection(dense, teacher, keep);                                // (B,k)
  const at::Tensor d = unit(dense.flatten(2), 1);                                            // (B,D,N)
  const at::Tensor picked = at::gather(d, 2, idx.unsqueeze(1).expand({B, D, idx.size(1)}));  // (B,D,k)
  const at::Tensor g = unit(picked.mean(2), 1);                                              // (B,D)
  const at::Tensor t = unit(teacher.detach().to(dense.scalar_type()), 1);
  if (form == "infonce" && B > 1) {
    const at::Tensor logits = at::matmul(g, t.t()) / tau;  // (B,B): image i against every crop's CLS
    return at::cross_entropy_loss(logits, at::arange(B, at::TensorOptions().dtype(at::kLong).device(dense.device())));
  }
  if (form == "infonce" || form == "cosine") return (1.0 - (g * t).sum(1)).mean();
  if (form == "l1") return (g - t).abs().sum(1).mean() / static_cast<double>(D);
  throw std::invalid_argument("unknown SGD loss form '" + form + "' (infonce, cosine, l1)");
}

at::Tensor semantic_alignment(const at::Tensor& dense, const at::Tensor& text, const at::Tensor& labels, double tau) {
  expect_dense(dense, "SAM");
  const int64_t B = dense.size(0), D = dense.size(1), h = dense.size(2), w = dense.size(3);
  if (text.dim() != 2 || text.size(1) != D)
    throw std::invalid_argument("SAM: text embeddings must be (K," + std::to_string(D) + "), got " +
                                std::to_string(text.dim()) + " dimensions");
  if (labels.dim() != 3 || labels.size(0) != B)
    throw std::invalid_argument("SAM: labels must be (B,H,W) with B = " + std::to_string(B));
  const int64_t K = text.size(0);
  at::Tensor weights;  // (B,K,h*w): each class's area fraction in each feature cell
  {
    at::NoGradGuard no_grad;
    const at::Tensor lab = labels.to(dense.device(), at::kLong);
    const at::Tensor valid = (lab >= 0) & (lab < K);
    const at::Tensor onehot =
        at::one_hot(at::where(valid, lab, at::zeros_like(lab)), K).permute({0, 3, 1, 2}).to(dense.scalar_type()) *
        valid.unsqueeze(1).to(dense.scalar_type());  // (B,K,H,W)
    weights = at::adaptive_avg_pool2d(onehot, {h, w}).flatten(2);
  }
  const at::Tensor mass = weights.sum(2);  // (B,K)
  const at::Tensor present = mass > 0;
  if (!present.any().item<bool>()) return dense.sum() * 0.0;
  const at::Tensor d = unit(dense.flatten(2), 1);                                                     // (B,D,N)
  const at::Tensor proto = at::bmm(weights, d.transpose(1, 2)) / mass.clamp_min(1e-12).unsqueeze(2);  // (B,K,D)
  const at::Tensor logits = at::matmul(unit(proto, 2), unit(text.detach().to(dense.scalar_type()), 1).t()) /
                            tau;  // (B,K,K)
  const at::Tensor target = at::arange(K, at::TensorOptions().dtype(at::kLong).device(dense.device())).expand({B, K});
  const at::Tensor rows = present.flatten().nonzero().squeeze(1);
  return at::cross_entropy_loss(logits.reshape({B * K, K}).index_select(0, rows),
                                target.reshape({B * K}).index_select(0, rows));
}

}  // namespace ovseg::chimera
