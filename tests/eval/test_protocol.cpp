// [protocol] parsing, mmcv's rescale_size and slide_inference's windows.
// ATen before doctest: c10 defines its own CHECK, doctest must win.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <cmath>
#include <utility>
#include <vector>

#include "ovseg/host/inference.hpp"
#include "ovseg/host/protocol.hpp"
#include "ovseg/sdk/diagnostics.hpp"

using namespace ovseg;

namespace {

PipelineSpec spec_with(const std::string& protocol_lines) {
  return parse_pipeline_spec("[pipeline]\nname = \"p\"\n\n[protocol]\n" + protocol_lines +
                                 "\n[nodes.a]\nplugin = \"argmax\"\n",
                             "proto.toml");
}

}  // namespace

TEST_CASE("protocol: defaults, parsing and errors with file:line and did-you-mean") {
  Protocol d = parse_protocol(spec_with(""));
  CHECK(d.mode == "slide");
  CHECK(d.short_side == 336);
  CHECK(d.max_long_side == 2048);
  CHECK(d.window == 224);
  CHECK(d.stride == 112);

  Protocol p = parse_protocol(spec_with("mode = \"whole\"\nshort_side = 448\nwindow = 336\nstride = 224\n"));
  CHECK(p.mode == "whole");
  CHECK(p.short_side == 448);
  CHECK(p.window == 336);
  CHECK(p.stride == 224);
  CHECK(Protocol::from_json(p.to_json()) == p);
  CHECK(p.to_json().size() == protocol_knobs().size());

  try {
    parse_protocol(spec_with("short_side = 336\nwindw = 224\n"));
    FAIL("an unknown knob must throw");
  } catch (const Error& e) {
    CHECK(e.where().file == "proto.toml");
    CHECK(e.where().line == 6);  // the `windw` line
    CHECK(std::string(e.what()).find("did you mean 'window'") != std::string::npos);
  }
  CHECK_THROWS_AS(parse_protocol(spec_with("short_side = \"big\"\n")), Error);
  CHECK_THROWS_AS(parse_protocol(spec_with("stride = 0\n")), Error);
  CHECK_THROWS_AS(parse_protocol(spec_with("mode = \"tiles\"\n")), Error);
  CHECK_THROWS_AS(parse_protocol(spec_with("prob_thd = 1.5\n")), Error);
  Protocol bg = parse_protocol(spec_with("prob_thd = 0.1\narea_thd = 1\n"));
  CHECK(bg.prob_thd == 0.1);
  CHECK(bg.area_thd == 1.0);
  CHECK(bg.background_handling());
  CHECK_FALSE(d.background_handling());
}

TEST_CASE("rescale_size matches mmcv.rescale_size(scale=(2048, short), keep_ratio)") {
  Protocol p;  // short 336, long cap 2048
  using WH = std::pair<int, int>;
  // Values from mmcv's formula: f = min(2048/long, 336/short), int(x*f + 0.5).
  CHECK((rescale_size(640, 480, p) == WH{448, 336}));
  CHECK((rescale_size(500, 375, p) == WH{448, 336}));
  CHECK((rescale_size(333, 500, p) == WH{336, 505}));
  CHECK((rescale_size(427, 640, p) == WH{336, 504}));
  CHECK((rescale_size(641, 359, p) == WH{600, 336}));
  CHECK((rescale_size(100, 50, p) == WH{672, 336}));  // upscaling too
  CHECK((rescale_size(4000, 1000, p) == WH{1344, 336}));
  CHECK((rescale_size(10000, 1000, p) == WH{2048, 205}));  // the long-side cap wins
  p.short_side = 448;
  CHECK((rescale_size(640, 427, p) == WH{671, 448}));
  p.short_side = 0;
  CHECK((rescale_size(123, 45, p) == WH{123, 45}));
}

TEST_CASE("slide windows: 448x336 image, window 224, stride 112 -> 3x2 windows") {
  const auto w = slide_windows(336, 448, 224, 112);
  REQUIRE(w.size() == 6);
  // Rows outer, columns inner, as slide_inference loops.
  CHECK((w[0] == Window{0, 224, 0, 224}));
  CHECK((w[1] == Window{0, 224, 112, 336}));
  CHECK((w[2] == Window{0, 224, 224, 448}));
  CHECK((w[3] == Window{112, 336, 0, 224}));
  CHECK((w[5] == Window{112, 336, 224, 448}));
  at::Tensor count = window_count_map(w, 336, 448);
  CHECK(count.sum().item<double>() == doctest::Approx(6.0 * 224 * 224));
  CHECK(count[0][0].item<float>() == 1.0f);
  CHECK(count[0][150].item<float>() == 2.0f);    // columns 112..223: windows 0 and 1
  CHECK(count[150][150].item<float>() == 4.0f);  // rows 112..223 x columns 112..223
  CHECK(count[300][447].item<float>() == 1.0f);
  CHECK(count[200][300].item<float>() == 4.0f);
  CHECK(count.min().item<float>() == 1.0f);  // every pixel covered

  // The last window is pushed back inside the image: y1 = max(y2 - win, 0).
  const auto v = slide_windows(300, 224, 224, 112);
  REQUIRE(v.size() == 2);
  CHECK((v[1] == Window{76, 300, 0, 224}));
}

TEST_CASE("slide windows: an image smaller than the window is one smaller crop") {
  const auto w = slide_windows(100, 150, 224, 112);
  REQUIRE(w.size() == 1);
  CHECK((w[0] == Window{0, 100, 0, 150}));
  // Smaller in one direction only: crops are min(win, H) x min(win, W).
  const auto v = slide_windows(100, 448, 224, 112);
  REQUIRE(v.size() == 3);
  for (const auto& x : v) {
    CHECK(x.y2 - x.y1 == 100);
    CHECK(x.x2 - x.x1 == 224);
  }
}

TEST_CASE("stitch_windows averages overlapping crops") {
  const auto w = slide_windows(336, 448, 224, 112);
  // Window i predicts the constant (i + 1) for class 0 and -(i + 1) for class 1.
  at::Tensor crops = at::arange(1, 7, at::kFloat).view({6, 1, 1, 1}).expand({6, 2, 224, 224}).clone();
  crops.select(1, 1).mul_(-1);
  at::Tensor s = stitch_windows(crops, w, 336, 448);
  REQUIRE(s.sizes() == at::IntArrayRef({1, 2, 336, 448}));
  CHECK(s[0][0][0][0].item<float>() == 1.0f);                      // window 0 only
  CHECK(s[0][0][0][150].item<float>() == doctest::Approx(1.5));    // windows 0, 1
  CHECK(s[0][0][150][150].item<float>() == doctest::Approx(3.0));  // (1 + 2 + 4 + 5) / 4
  CHECK(s[0][0][300][400].item<float>() == 6.0f);                  // window 5 only
  CHECK(s[0][1][150][150].item<float>() == doctest::Approx(-3.0));
  CHECK_THROWS(stitch_windows(crops.slice(0, 0, 5), w, 336, 448));
}

TEST_CASE("stitch_windows is ATen's zero canvas + add_ per window + div_ by the count, bit for bit") {
  at::manual_seed(5);
  for (const auto& [h, wd] : std::vector<std::pair<int, int>>{{336, 448}, {500, 336}, {224, 224}, {100, 448}}) {
    CAPTURE(h);
    CAPTURE(wd);
    const auto w = slide_windows(h, wd, 224, 112);
    const at::Tensor crops = at::randn({static_cast<int64_t>(w.size()), 5, w[0].y2 - w[0].y1, w[0].x2 - w[0].x1}) * 20;
    at::Tensor expected = at::zeros({1, 5, h, wd});
    for (size_t i = 0; i < w.size(); ++i)
      expected.slice(2, w[i].y1, w[i].y2).slice(3, w[i].x1, w[i].x2).add_(crops[static_cast<int64_t>(i)]);
    expected.div_(window_count_map(w, h, wd));
    CHECK(at::equal(stitch_windows(crops, w, h, wd), expected));
    // Not contiguous, or double: the same values.
    CHECK(at::equal(stitch_windows(crops.transpose(2, 3).contiguous().transpose(2, 3), w, h, wd), expected));
    CHECK(at::allclose(stitch_windows(crops.to(at::kDouble), w, h, wd), expected.to(at::kDouble), 1e-6, 1e-6));
  }
}

TEST_CASE("all_finite finds one NaN or inf anywhere") {
  at::Tensor t = at::randn({3, 37, 41});
  CHECK(all_finite(t));
  for (double bad : {std::nan(""), double{INFINITY}, -double{INFINITY}})
    for (int64_t at_index : {int64_t{0}, int64_t{17}, t.numel() - 1}) {
      at::Tensor u = t.clone();
      u.view({-1})[at_index] = bad;
      CHECK_FALSE(all_finite(u));
      CHECK_FALSE(all_finite(u.transpose(1, 2)));  // ATen's check on a non-contiguous view
    }
  CHECK(all_finite(at::empty({0})));
}

TEST_CASE("background handling follows SCLIP's postprocess_result") {
  // 3 classes on 4 pixels; logits = log(p), so softmax gives p back.
  const float p[4][3] = {{0.2f, 0.7f, 0.1f},    // argmax 1, top 0.7
                         {0.3f, 0.25f, 0.45f},  // argmax 2, top 0.45
                         {0.1f, 0.8f, 0.1f},    // argmax 1, top 0.8
                         {0.5f, 0.2f, 0.3f}};   // argmax 0
  at::Tensor probs = at::empty({3, 2, 2});
  for (int i = 0; i < 4; ++i)
    for (int c = 0; c < 3; ++c) probs[c][i / 2][i % 2] = p[i][c];
  const at::Tensor logits = probs.log();
  const auto labels = [&](double prob_thd, double area_thd) {
    at::Tensor l = background_labels(logits, prob_thd, area_thd).flatten();
    return std::vector<int64_t>(l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + 4);
  };
  CHECK((labels(0, 0) == std::vector<int64_t>{1, 2, 1, 0}));
  CHECK((labels(0.5, 0) == std::vector<int64_t>{1, 0, 1, 0}));  // 0.45 < 0.5
  CHECK((labels(0.44, 0) == std::vector<int64_t>{1, 2, 1, 0}));
  // Class 2 holds 1 of the 3 non-background pixels: kept at 0.3, dropped at 0.34
  // (its probability zeroed, so pixel 1 falls to class 0 with p = 0.3).
  CHECK((labels(0, 0.3) == std::vector<int64_t>{1, 2, 1, 0}));
  CHECK((labels(0, 0.34) == std::vector<int64_t>{1, 0, 1, 0}));
  CHECK((labels(0.31, 0.34) == std::vector<int64_t>{1, 0, 1, 0}));
}
