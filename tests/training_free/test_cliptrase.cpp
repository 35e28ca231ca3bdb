// CLIPtrase's pieces: the block self-correlation plugin against an explicit
// re-statement, DBSCAN and the median filter against scikit-learn / SciPy
// semantics and stored fixtures, and the cluster vote end to end on
// a hand-made scene.
#include <algorithm>
#include <chrono>

#include "cluster_ops.hpp"  // compiled into this test from plugins/training_free
#include "tf_test_util.hpp"

#include <doctest/doctest.h>  // glog's CHECK is handled by tests/doctest_prelude.hpp

using namespace ovseg;
using namespace tf_test;

TEST_CASE("cliptrase_correlation: head-averaged (qq+kk+vv)/3 cosine, minus the CLS row, clamped at 0") {
  const int64_t gh = 3, gw = 4, n = gh * gw;
  at::manual_seed(21);
  at::Tensor x = at::randn({2, 1 + n, 128});
  auto stage = make_stage("cliptrase_correlation");
  MapStageContext ctx;
  ctx.inputs["tokens"] = Tokens{x, gh, gw, true};
  ctx.inputs["model"] = handle();
  stage->run(ctx);
  at::Tensor got = std::get<FeatureMap>(ctx.outputs.at("correlation")).features;
  REQUIRE(got.sizes() == at::IntArrayRef({2, n, gh, gw}));

  // Reference: block 1 of 3 (= -2), double precision, per image and head,
  // cosine similarity of every token pair written out.
  const auto& blk = model()->vision_block(1);
  const int64_t C = 128, H = 2, hd = 64;
  for (int64_t b = 0; b < 2; ++b) {
    at::Tensor xb = x[b].to(at::kDouble);
    at::Tensor mu = xb.mean(-1, true), var = (xb - mu).pow(2).mean(-1, true);
    at::Tensor h = (xb - mu) / at::sqrt(var + 1e-5) * blk.ln1_w.to(at::kDouble) + blk.ln1_b.to(at::kDouble);
    at::Tensor all = at::mm(h, blk.in_proj_w.to(at::kDouble).t()) + blk.in_proj_b.to(at::kDouble);
    at::Tensor corr = at::zeros({1 + n, 1 + n}, at::kDouble);
    for (int64_t e = 0; e < H; ++e)
      for (int64_t which = 0; which < 3; ++which) {
        at::Tensor t = all.slice(1, which * C + e * hd, which * C + (e + 1) * hd);
        for (int64_t i = 0; i <= n; ++i)
          for (int64_t j = 0; j <= n; ++j) corr[i][j] += (t[i] * t[j]).sum() / (t[i].norm() * t[j].norm()) / 3.0 / H;
      }
    at::Tensor expect = (corr.slice(0, 1).slice(1, 1) - corr[0].slice(0, 1).unsqueeze(0)).clamp_min(0.0);
    CAPTURE(b);
    CHECK(rel_diff(got[b].reshape({n, n}), expect) < 1e-5);
    CHECK(expect.eq(0).any().item<bool>());  // the clamp really acted
  }
}

TEST_CASE("dbscan: sklearn semantics (<= eps, self counts, border points to the first cluster, noise -1)") {
  using ovseg::training_free::dbscan;
  // 1-D points: two chains and an outlier. 0.5 apart exactly = within eps.
  at::Tensor p = at::tensor({0.0, 0.5, 1.0, 5.0, 5.5, 6.0, 20.0}, at::kFloat).unsqueeze(1);
  CHECK(dbscan(p, 0.5, 2) == std::vector<int64_t>{0, 0, 0, 1, 1, 1, -1});
  CHECK(dbscan(p, 0.49, 2) == std::vector<int64_t>(7, -1));
  // min_samples counts the point itself: 0.5 and 5.5 are the only cores
  // with 3; 0, 1, 5, 6 are border points of their clusters.
  CHECK(dbscan(p, 0.5, 3) == std::vector<int64_t>{0, 0, 0, 1, 1, 1, -1});
  // A border point between two clusters joins the one discovered first:
  // 1.0 is within eps of the cores 0.2 and 1.8 but has only 3 neighbours.
  at::Tensor q = at::tensor({0.0, 0.1, 0.2, 1.0, 1.8, 1.9, 2.0}, at::kFloat).unsqueeze(1);
  CHECK(dbscan(q, 0.85, 4) == std::vector<int64_t>{0, 0, 0, 0, 1, 1, 1});
  CHECK(dbscan(q.flip(0), 0.85, 4) == std::vector<int64_t>{0, 0, 0, 0, 1, 1, 1});
}

TEST_CASE("median_filter: scipy.ndimage.median_filter with mode 'reflect'") {
  using ovseg::training_free::median_filter;
  at::manual_seed(8);
  at::Tensor img = at::rand({9, 11});
  const int64_t size = 7, r = 3;
  // Reference: symmetric padding by flipping the border strips (d c b a | a b c d),
  // every window's sorted middle value.
  at::Tensor p = at::cat({img.slice(0, 0, r).flip(0), img, img.slice(0, 9 - r).flip(0)}, 0);
  p = at::cat({p.slice(1, 0, r).flip(1), p, p.slice(1, 11 - r).flip(1)}, 1);
  at::Tensor expect = at::empty_like(img);
  for (int64_t y = 0; y < 9; ++y)
    for (int64_t x = 0; x < 11; ++x)
      expect[y][x] = std::get<0>(p.slice(0, y, y + size).slice(1, x, x + size).flatten().sort())[24];
  CHECK((median_filter(img, size) - expect).abs().max().item<double>() == 0.0);
  CHECK_THROWS_AS(median_filter(img, 4), std::invalid_argument);
}

TEST_CASE("cliptrase_cluster_vote: each cluster takes the majority class of its pixels") {
  // 4x4 patch grid, left half (columns 0-1) and right half (2-3) correlate
  // only within themselves: two DBSCAN clusters at eps 0.7.
  const int64_t g = 4, n = g * g, H = 16, W = 16, K = 3;
  at::Tensor left = at::zeros({n});
  for (int64_t i = 0; i < n; ++i) left[i] = (i % g) < 2 ? 1.0 : 0.0;
  at::Tensor rows = at::empty({n, n});
  for (int64_t i = 0; i < n; ++i) rows[i] = (i % g) < 2 ? left : 1 - left;
  at::Tensor corr = rows.reshape({1, n, g, g});

  // Logits: left half mostly class 1, right half mostly class 2, with a few
  // pixels of other classes in each.
  at::Tensor logits = at::zeros({1, K, H, W});
  logits[0][1].slice(1, 0, 8).fill_(1.0);
  logits[0][2].slice(1, 8, 16).fill_(1.0);
  logits[0][2][3][2] = 5.0;
  logits[0][0][10][4] = 5.0;
  logits[0][0][12][13] = 5.0;
  logits[0][1][0][15] = 5.0;

  auto run = [&](int64_t min_samples) {
    auto stage = make_stage("cliptrase_cluster_vote", {{"min_samples", min_samples}});
    MapStageContext ctx;
    ctx.inputs["logits"] = Logits{logits, {"a", "b", "c"}};
    ctx.inputs["correlation"] = FeatureMap{corr};
    stage->run(ctx);
    return std::make_pair(std::get<LabelMap>(ctx.outputs.at("labels")), std::get<Logits>(ctx.outputs.at("logits")));
  };
  auto [voted, voted_logits] = run(3);
  at::Tensor expect = at::full({1, H, W}, 2, at::kLong);
  expect.slice(2, 0, 8).fill_(1);
  CHECK(voted.labels.equal(expect));
  CHECK(voted.class_names == std::vector<std::string>{"a", "b", "c"});
  // The logits output: argmax is the vote, each pixel keeps its scores.
  CHECK(voted_logits.logits.argmax(1).equal(expect));
  CHECK(std::get<0>(voted_logits.logits.sort(1)).equal(std::get<0>(logits.sort(1))));
  CHECK(voted_logits.logits[0][1][3][2].item<float>() == 5.0f);  // swapped with class 2's 5.0
  CHECK(voted_logits.logits[0][2][3][2].item<float>() == 1.0f);
  // No cluster (no patch has 17 neighbours): plain argmax, logits unchanged.
  auto [plain, plain_logits] = run(17);
  CHECK(plain.labels.equal(logits.argmax(1)));
  CHECK(plain_logits.logits.equal(logits));
}

TEST_CASE("cliptrase_cluster_vote rejects a correlation that is not (B, h*w, h, w)") {
  auto stage = make_stage("cliptrase_cluster_vote");
  MapStageContext ctx;
  ctx.inputs["logits"] = Logits{at::zeros({1, 2, 8, 8}), {"a", "b"}};
  ctx.inputs["correlation"] = FeatureMap{at::zeros({1, 5, 2, 2})};
  CHECK_THROWS_WITH_AS(stage->run(ctx), doctest::Contains("(1, 5, 2, 2)"), std::invalid_argument);
}

namespace {
// The window-by-window selection median_filter replaced (scipy's definition).
at::Tensor median_by_selection(const at::Tensor& img, int64_t size) {
  const int64_t h = img.size(0), w = img.size(1), r = size / 2;
  auto reflect = [](int64_t i, int64_t n) {
    while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - 1 - i;
    return i;
  };
  at::Tensor src = img.contiguous(), out = at::empty_like(src);
  const float* s = src.data_ptr<float>();
  std::vector<float> win;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      win.clear();
      for (int64_t dy = -r; dy <= r; ++dy)
        for (int64_t dx = -r; dx <= r; ++dx) win.push_back(s[reflect(y + dy, h) * w + reflect(x + dx, w)]);
      std::nth_element(win.begin(), win.begin() + win.size() / 2, win.end());
      out[y][x] = win[win.size() / 2];
    }
  return out;
}
}  // namespace

TEST_CASE("median_filter equals window-by-window selection, ties and windows wider than the map included") {
  at::manual_seed(21);
  const at::Tensor smooth = at::rand({13, 17});
  const at::Tensor ties = (at::rand({13, 17}) * 4).floor();  // four distinct values
  for (const at::Tensor& img : {smooth, ties})
    for (int64_t size : {1, 3, 9, 31})
      CHECK(at::equal(ovseg::training_free::median_filter(img, size), median_by_selection(img, size)));
}

TEST_CASE("median_filter at vote.ratio 64 on a 320x240 image takes seconds, not minutes") {
  // cliptrase_cluster_vote filters each cluster's (64*15, 64*20) map with a
  // 127x127 window; selecting in every window took ~100 s per cluster.
  at::manual_seed(22);
  const at::Tensor grid = at::rand({1, 1, 15, 20});
  const at::Tensor map = at::upsample_bilinear2d(grid, {64 * 15, 64 * 20}, false)[0][0];
  const auto t0 = std::chrono::steady_clock::now();
  const at::Tensor out = ovseg::training_free::median_filter(map, 127);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("ratio-64 median filter: " << seconds << " s");
  CHECK(seconds < 30.0);  // ~2 s idle, ~7 s on a loaded 2-core box; selection: minutes
  // Exact on a crop of the same map (selection over the whole map is the slow path).
  const at::Tensor corner = map.slice(0, 0, 200).slice(1, 0, 200);
  CHECK(at::equal(ovseg::training_free::median_filter(corner, 31), median_by_selection(corner, 31)));
}

TEST_CASE("dbscan and median_filter match scikit-learn 1.2.1 / SciPy 1.10.1 on stored fixtures") {
  // data/: 60 points in 16-D (4 blobs, one too small to be a cluster, plus
  // scattered noise) with DBSCAN(eps=1.5, min_samples=4).fit_predict labels,
  // and a 23x31 map with scipy.ndimage.median_filter(size=7), all saved by
  // those libraries (numbers only).
  const std::string dir = OVSEG_SOURCE_DIR "/tests/training_free/data/";
  at::Tensor pts = read_npy(dir + "dbscan_points.npy");
  at::Tensor expect = read_npy(dir + "dbscan_labels_eps1.5_min4.npy");
  std::vector<int64_t> got = ovseg::training_free::dbscan(pts, 1.5, 4);
  CHECK(at::tensor(got, at::kLong).equal(expect.to(at::kLong)));
  CHECK(expect.max().item<int64_t>() == 2);       // three clusters
  CHECK(expect.lt(0).sum().item<int64_t>() > 0);  // and noise
  at::Tensor med = ovseg::training_free::median_filter(read_npy(dir + "median_input.npy"), 7);
  CHECK(med.equal(read_npy(dir + "median_size7.npy")));
}
