// The segmentation losses against their formulas, written out here in double
// precision loops (cross-entropy, CAT-Seg's BCE, focal, dice), ignore
// handling included.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <cmath>

#include "ovseg/train/losses.hpp"

using namespace ovseg;

namespace {

struct Case {
  at::Tensor logits;  // (2,3,4,5)
  at::Tensor target;  // (2,4,5) with some 255
};

Case make_case() {
  at::manual_seed(11);
  Case c;
  c.logits = at::randn({2, 3, 4, 5}, at::kDouble) * 2;
  c.target = at::randint(0, 3, {2, 4, 5}, at::kLong);
  c.target.index_put_({0, 0}, 255);  // a row of void pixels
  c.target.index_put_({1, 2, 3}, 255);
  return c;
}

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

}  // namespace

TEST_CASE("cross-entropy: mean over the non-ignored pixels of -log softmax") {
  const Case c = make_case();
  double sum = 0;
  int n = 0;
  auto lg = c.logits.accessor<double, 4>();
  auto t = c.target.accessor<int64_t, 3>();
  for (int b = 0; b < 2; ++b)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 5; ++x) {
        if (t[b][y][x] == 255) continue;
        double z = 0;
        for (int k = 0; k < 3; ++k) z += std::exp(lg[b][k][y][x]);
        sum += std::log(z) - lg[b][t[b][y][x]][y][x];
        ++n;
      }
  CHECK(train::cross_entropy_loss(c.logits, c.target, 255).item<double>() == doctest::Approx(sum / n).epsilon(1e-12));
  // Every pixel ignored: a zero that still carries a gradient path.
  const at::Tensor all_void = at::full({2, 4, 5}, 255, at::kLong);
  CHECK(train::cross_entropy_loss(c.logits, all_void, 255).item<double>() == 0.0);
}

TEST_CASE("bce: CAT-Seg's one-hot BCE, ignored pixels with all-zero targets still counted") {
  const Case c = make_case();
  double sum = 0;
  auto lg = c.logits.accessor<double, 4>();
  auto t = c.target.accessor<int64_t, 3>();
  for (int b = 0; b < 2; ++b)
    for (int k = 0; k < 3; ++k)
      for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 5; ++x) {
          const double target = t[b][y][x] == k ? 1.0 : 0.0;  // 255 never equals k
          const double p = sigmoid(lg[b][k][y][x]);
          sum += -(target * std::log(p) + (1 - target) * std::log(1 - p));
        }
  CHECK(train::bce_one_hot_loss(c.logits, c.target, 255).item<double>() ==
        doctest::Approx(sum / (2 * 3 * 4 * 5)).epsilon(1e-12));
}

TEST_CASE("focal and dice: per-class sigmoid on one-hot targets, ignored pixels left out") {
  const Case c = make_case();
  const double alpha = 0.25, gamma = 2.0;
  auto lg = c.logits.accessor<double, 4>();
  auto t = c.target.accessor<int64_t, 3>();
  double focal = 0, dice = 0;
  int valid = 0;
  for (int b = 0; b < 2; ++b)
    for (int k = 0; k < 3; ++k) {
      double inter = 0, psum = 0, tsum = 0;
      for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 5; ++x) {
          if (t[b][y][x] == 255) continue;
          const double target = t[b][y][x] == k ? 1.0 : 0.0, p = sigmoid(lg[b][k][y][x]);
          const double ce = -(target * std::log(p) + (1 - target) * std::log(1 - p));
          const double p_t = p * target + (1 - p) * (1 - target);
          focal += (alpha * target + (1 - alpha) * (1 - target)) * ce * std::pow(1 - p_t, gamma);
          inter += p * target, psum += p, tsum += target;
          if (k == 0) ++valid;
        }
      dice += 1 - (2 * inter + 1) / (psum + tsum + 1);
    }
  CHECK(train::focal_loss(c.logits, c.target, 255).item<double>() ==
        doctest::Approx(focal / (valid * 3)).epsilon(1e-12));
  CHECK(train::dice_loss(c.logits, c.target, 255).item<double>() == doctest::Approx(dice / 6).epsilon(1e-12));
}

TEST_CASE("binary mask losses (SAM's): focal and dice per mask") {
  at::manual_seed(5);
  const at::Tensor logits = at::randn({3, 6, 6}, at::kDouble);
  const at::Tensor masks = at::randint(0, 2, {3, 6, 6}, at::kLong);
  double focal = 0, dice = 0;
  auto lg = logits.accessor<double, 3>();
  auto m = masks.accessor<int64_t, 3>();
  for (int n = 0; n < 3; ++n) {
    double inter = 0, psum = 0, tsum = 0;
    for (int y = 0; y < 6; ++y)
      for (int x = 0; x < 6; ++x) {
        const double t = static_cast<double>(m[n][y][x]), p = sigmoid(lg[n][y][x]);
        const double ce = -(t * std::log(p) + (1 - t) * std::log(1 - p));
        const double p_t = p * t + (1 - p) * (1 - t);
        focal += (0.25 * t + 0.75 * (1 - t)) * ce * std::pow(1 - p_t, 2.0);
        inter += p * t, psum += p, tsum += t;
      }
    dice += 1 - (2 * inter + 1) / (psum + tsum + 1);
  }
  CHECK(train::binary_focal_loss(logits, masks).item<double>() == doctest::Approx(focal / 108).epsilon(1e-12));
  CHECK(train::binary_dice_loss(logits, masks).item<double>() == doctest::Approx(dice / 3).epsilon(1e-12));
}

TEST_CASE("losses: shape errors and unknown names are clear") {
  const Case c = make_case();
  CHECK_THROWS_WITH(train::cross_entropy_loss(c.logits, c.target.slice(1, 0, 2), 255), doctest::Contains("logits"));
  CHECK_THROWS_WITH(train::pixel_loss("lovasz", c.logits, c.target, 255), doctest::Contains("ce, bce, focal, dice"));
  const at::Tensor too_big = at::full({2, 4, 5}, 7, at::kLong);
  CHECK_THROWS_WITH(train::focal_loss(c.logits, too_big, 255), doctest::Contains(">= the 3 logit channels"));
}
