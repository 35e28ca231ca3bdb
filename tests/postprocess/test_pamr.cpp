// pamr plugin vs a loop-by-loop re-statement of pamr.py (in double), plus
// its behaviour on a step edge.
#include <algorithm>
#include <cmath>
#include <vector>

#include "postprocess/postprocess_test_util.hpp"

using namespace postprocess_test;

namespace {

// pamr.py, pixel by pixel. image (1,3,H,W), mask (1,K,H,W), both CPU float.
at::Tensor reference_pamr(at::Tensor image, const at::Tensor& mask, const std::vector<int64_t>& dils, int iterations,
                          bool clip_norm) {
  const int64_t c_count = 3, k_count = mask.size(1), h = mask.size(2), w = mask.size(3);
  const double mean[3] = {0.48145466, 0.4578275, 0.40821073};
  const double sd[3] = {0.26862954, 0.26130258, 0.27577711};
  auto px = image.accessor<float, 4>();
  auto x = [&](int64_t c, int64_t y, int64_t xx) {
    y = std::clamp<int64_t>(y, 0, h - 1);  // replicate padding
    xx = std::clamp<int64_t>(xx, 0, w - 1);
    const double v = px[0][c][y][xx];
    return clip_norm ? (v - mean[c]) / sd[c] : v;
  };
  const int64_t p_count = 8 * static_cast<int64_t>(dils.size());
  // aff[y][x][p] and the neighbour coordinates of each p.
  std::vector<double> aff(h * w * p_count);
  std::vector<int64_t> ny(h * w * p_count), nx(h * w * p_count);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t xx = 0; xx < w; ++xx) {
      std::vector<double> score(p_count, 0.0);
      for (int64_t c = 0; c < c_count; ++c) {
        // LocalStDev: all 9 taps of every dilation, unbiased.
        std::vector<double> taps;
        for (int64_t d : dils)
          for (int dy = -1; dy <= 1; ++dy)
            for (int dx = -1; dx <= 1; ++dx) taps.push_back(x(c, y + dy * d, xx + dx * d));
        double m = 0, v = 0;
        for (double t : taps) m += t;
        m /= taps.size();
        for (double t : taps) v += (t - m) * (t - m);
        const double std_c = std::sqrt(v / (taps.size() - 1));
        int64_t p = 0;
        for (int64_t d : dils)
          for (int dy = -1; dy <= 1; ++dy)
            for (int dx = -1; dx <= 1; ++dx) {
              if (dy == 0 && dx == 0) continue;
              score[p] += -std::abs(x(c, y, xx) - x(c, y + dy * d, xx + dx * d)) / (1e-8 + 0.1 * std_c) / c_count;
              const int64_t idx = (y * w + xx) * p_count + p;
              ny[idx] = std::clamp<int64_t>(y + dy * d, 0, h - 1);
              nx[idx] = std::clamp<int64_t>(xx + dx * d, 0, w - 1);
              ++p;
            }
      }
      const double mx = *std::max_element(score.begin(), score.end());
      double s = 0;
      for (double& v : score) s += (v = std::exp(v - mx));
      for (int64_t p = 0; p < p_count; ++p) aff[(y * w + xx) * p_count + p] = score[p] / s;
    }
  std::vector<double> m(k_count * h * w);
  auto ma = mask.accessor<float, 4>();
  for (int64_t k = 0; k < k_count; ++k)
    for (int64_t i = 0; i < h * w; ++i) m[k * h * w + i] = ma[0][k][i / w][i % w];
  for (int it = 0; it < iterations; ++it) {
    std::vector<double> next(m.size(), 0.0);
    for (int64_t k = 0; k < k_count; ++k)
      for (int64_t i = 0; i < h * w; ++i)
        for (int64_t p = 0; p < p_count; ++p) {
          const int64_t idx = i * p_count + p;
          next[k * h * w + i] += aff[idx] * m[k * h * w + ny[idx] * w + nx[idx]];
        }
    m.swap(next);
  }
  at::Tensor out = at::empty({1, k_count, h, w}, at::kFloat);
  for (size_t i = 0; i < m.size(); ++i) out.data_ptr<float>()[i] = static_cast<float>(m[i]);
  return out;
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

TEST_CASE("pamr matches a pixel-by-pixel re-statement of pamr.py") {
  at::manual_seed(3);
  const at::Tensor image = at::rand({1, 3, 11, 13});
  const at::Tensor logits = at::randn({1, 4, 11, 13});
  const at::Tensor logits_before = logits.clone();
  for (bool clip_norm : {true, false}) {
    for (const std::vector<int64_t>& dils :
         {std::vector<int64_t>{1, 2}, std::vector<int64_t>{8, 16}, std::vector<int64_t>{3}}) {
      CAPTURE(clip_norm);
      CAPTURE(dils.size());
      const at::Tensor got = run_logits("pamr", logits, image,
                                        {{"iterations", int64_t{3}},
                                         {"dilations", dils},
                                         {"image_normalization", std::string(clip_norm ? "clip" : "none")}});
      const at::Tensor want = reference_pamr(image, logits, dils, 3, clip_norm);
      CHECK(got.sizes() == logits.sizes());
      CHECK(max_abs_diff(got, want) < 1e-5);
      CHECK(max_abs_diff(got, logits) > 1e-2);  // it did something
    }
  }
  CHECK(at::equal(logits, logits_before));  // the input is never written
}

TEST_CASE("pamr resizes the image to the logits (bilinear) and keeps the batch apart") {
  at::manual_seed(4);
  const at::Tensor image = at::rand({2, 3, 20, 26});
  const at::Tensor logits = at::randn({2, 3, 10, 13});
  const at::Tensor small = at::upsample_bilinear2d(image, {10, 13}, false);
  const at::Tensor got = run_logits("pamr", logits, image, {{"dilations", std::vector<int64_t>{1, 2}}});
  for (int64_t b = 0; b < 2; ++b) {
    const at::Tensor want = reference_pamr(small.narrow(0, b, 1).contiguous(), logits.narrow(0, b, 1).contiguous(),
                                           {1, 2}, 10, true);
    CHECK(max_abs_diff(got.narrow(0, b, 1), want) < 1e-5);
  }
}

TEST_CASE("pamr with iterations = 0 is the identity") {
  const at::Tensor logits = at::randn({1, 3, 9, 9});
  const at::Tensor got = run_logits("pamr", logits, at::rand({1, 3, 9, 9}), {{"iterations", int64_t{0}}});
  CHECK(at::equal(got, logits));
}

TEST_CASE("pamr sharpens a blurred step at an image edge") {
  // Image: dark left half, bright right half. Logits: a smooth ramp across the
  // whole width (what bilinear upsampling of coarse logits looks like).
  const int64_t h = 24, w = 48;
  at::Tensor image = at::full({1, 3, h, w}, 0.2f);
  image.narrow(3, w / 2, w / 2).fill_(0.8f);
  const at::Tensor ramp = at::linspace(1.0, -1.0, w).view({1, 1, 1, w}).expand({1, 1, h, w});
  const at::Tensor logits = at::cat({ramp, -ramp}, 1).contiguous();
  const at::Tensor out = run_logits("pamr", logits, image, {{"dilations", std::vector<int64_t>{1, 2}}});
  auto jump = [&](const at::Tensor& t) { return (t[0][0][h / 2][w / 2 - 1] - t[0][0][h / 2][w / 2]).item<double>(); };
  auto spread = [&](const at::Tensor& t) {  // within-region variation of class 0
    return (t[0][0].narrow(1, 0, w / 2).std().item<double>() + t[0][0].narrow(1, w / 2, w / 2).std().item<double>());
  };
  MESSAGE("jump " << jump(logits) << " -> " << jump(out) << ", spread " << spread(logits) << " -> " << spread(out));
  // The step across the edge grows (0.043 -> 0.33 here); away from the edge a
  // linear ramp is a fixed point of symmetric averaging, so the within-region
  // spread only shrinks a little.
  CHECK(jump(out) > 5 * jump(logits));
  CHECK(spread(out) < spread(logits));
  // The sign on each side is kept: PAMR only averages within a region.
  CHECK((out[0][0].narrow(1, 0, w / 2) > 0).all().item<bool>());
  CHECK((out[0][0].narrow(1, w / 2, w / 2) < 0).all().item<bool>());
}

TEST_CASE("pamr names the node and shapes on a batch mismatch") {
  try {
    run_logits("pamr", at::randn({2, 3, 8, 8}), at::rand({1, 3, 8, 8}));
    FAIL("no error");
  } catch (const std::exception& e) {
    const std::string msg = e.what();
    CHECK(msg.find("under_test") != std::string::npos);
    CHECK(msg.find("(1, 3, 8, 8)") != std::string::npos);
  }
}
