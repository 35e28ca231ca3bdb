// Each last-block refinement plugin (the .so, built from its descriptor) is
// compared with a direct re-statement of its paper's formula, written here
// on a different code path: double precision, explicit loops over images and
// heads, LayerNorm / softmax / QuickGELU spelled out, the NACLIP prior built
// pair by pair.
#include <cmath>

#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x

#include "tf_test_util.hpp"

#include <doctest/doctest.h>  // glog's CHECK is handled by tests/doctest_prelude.hpp

using namespace ovseg;
using namespace tf_test;

namespace {

constexpr int64_t kGridH = 3, kGridW = 4;  // non-square: catches row/column mix-ups

at::Tensor d(const at::Tensor& t) { return t.to(at::kDouble); }

at::Tensor ln(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  at::Tensor mu = x.mean(-1, true);
  at::Tensor var = (x - mu).pow(2).mean(-1, true);  // biased, as nn.LayerNorm
  return (x - mu) / at::sqrt(var + 1e-5) * d(w) + d(b);
}

at::Tensor softmax_rows(const at::Tensor& l) {
  at::Tensor e = (l - std::get<0>(l.max(-1, true))).exp();
  return e / e.sum(-1, true);
}

// exp(-|p - p'|^2 / (2 std^2)) between patches, 0 on the CLS row/column.
at::Tensor prior_pairs(double std) {
  const int64_t n = kGridH * kGridW;
  at::Tensor g = at::zeros({n + 1, n + 1}, at::kDouble);
  auto a = g.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const double dy = static_cast<double>(i / kGridW - j / kGridW);
      const double dx = static_cast<double>(i % kGridW - j % kGridW);
      a[1 + i][1 + j] = std::exp(-(dy * dy + dx * dx) / (2 * std * std));
    }
  return g;
}

struct Spec {
  std::string attention;  // "vanilla", "v", or pairs like "qq+kk"
  bool residual, ffn;
  double gaussian_std = 0;
  double term_weight = 1.0;  // 0.5 would be "average the softmaxes" (a wrong SCLIP)
};

// Last block re-run as the papers write it, then ln_post @ proj on patches.
at::Tensor reference(const at::Tensor& tokens, const Spec& s) {
  const auto& m = *model();
  const auto& blk = m.last_vision_block();
  const int64_t B = tokens.size(0), N = tokens.size(1), C = blk.width(), H = blk.heads, hd = blk.head_dim();
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  at::Tensor Win = d(blk.in_proj_w), bin = d(blk.in_proj_b);
  std::vector<at::Tensor> out;
  for (int64_t b = 0; b < B; ++b) {
    at::Tensor x = d(tokens[b]);
    at::Tensor h = ln(x, blk.ln1_w, blk.ln1_b);
    std::vector<at::Tensor> heads;
    for (int64_t e = 0; e < H; ++e) {
      auto proj = [&](int64_t which) {  // 0 q, 1 k, 2 v rows of in_proj for head e
        const int64_t r0 = which * C + e * hd;
        return at::mm(h, Win.slice(0, r0, r0 + hd).t()) + bin.slice(0, r0, r0 + hd);
      };
      at::Tensor q = proj(0), k = proj(1), v = proj(2);
      if (s.attention == "v") {
        heads.push_back(v);
        continue;
      }
      std::string att = s.attention == "vanilla" ? "qk" : s.attention;
      at::Tensor A = at::zeros({N, N}, at::kDouble);
      for (size_t p = 0; p < att.size(); p += 3) {
        auto pick = [&](char c) { return c == 'q' ? q : c == 'k' ? k : v; };
        at::Tensor l = at::mm(pick(att[p]), pick(att[p + 1]).t()) * scale;
        if (s.gaussian_std > 0) l = l + prior_pairs(s.gaussian_std);
        A = A + s.term_weight * softmax_rows(l);
      }
      heads.push_back(at::mm(A, v));
    }
    at::Tensor a = at::mm(at::cat(heads, 1), d(blk.out_proj_w).t()) + d(blk.out_proj_b);
    at::Tensor y = s.residual ? x + a : a;
    if (s.ffn) {
      at::Tensor z = at::mm(ln(y, blk.ln2_w, blk.ln2_b), d(blk.fc_w).t()) + d(blk.fc_b);
      z = z / (1.0 + at::exp(-1.702 * z));  // QuickGELU
      y = y + at::mm(z, d(blk.proj_w).t()) + d(blk.proj_b);
    }
    at::Tensor f = at::mm(ln(y.slice(0, 1), m.ln_post_w, m.ln_post_b), d(m.visual_proj));  // (h*w, E)
    out.push_back(f.t().reshape({f.size(1), kGridH, kGridW}));
  }
  return at::stack(out);
}

at::Tensor tokens_in(uint64_t seed = 3) {
  at::manual_seed(seed);
  return at::randn({2, 1 + kGridH * kGridW, model()->geometry().vision_width});
}

at::Tensor run_plugin(const std::string& plugin, const at::Tensor& tokens,
                      const std::map<std::string, ParamValue>& set = {}) {
  auto stage = make_stage(plugin, set);
  MapStageContext ctx;
  ctx.inputs["tokens"] = Tokens{tokens, kGridH, kGridW, true};
  ctx.inputs["model"] = handle();
  stage->run(ctx);
  return std::get<FeatureMap>(ctx.outputs.at("features")).features;
}

void check_param(const std::string& plugin, const std::string& name, const ParamValue& expected) {
  const ParamSpec* p = catalog().find(plugin)->descriptor.find_param(name);
  REQUIRE(p);
  CHECK_MESSAGE(p->default_value == expected, plugin << "." << name);
}

}  // namespace

TEST_CASE("every refinement plugin matches its paper's formula (max rel diff < 1e-5)") {
  at::Tensor x = tokens_in();
  struct Case {
    std::string plugin;
    Spec spec;
  };
  const std::vector<Case> cases{
      {"vanilla_block", {"vanilla", true, true}}, {"maskclip", {"v", false, false}},
      {"sclip", {"qq+kk", true, true}},           {"clearclip", {"qq", false, false}},
      {"naclip", {"kk", false, false, 5.0}},      {"cliptrase", {"qq+kk+vv", true, true}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.plugin);
    at::Tensor got = run_plugin(c.plugin, x);
    CHECK(got.sizes() == at::IntArrayRef({2, model()->geometry().embed_dim, kGridH, kGridW}));
    CHECK(rel_diff(got, reference(x, c.spec)) < 1e-5);
  }
}

TEST_CASE("plugin defaults are the papers' settings") {
  check_param("vanilla_block", "attention", std::string("vanilla"));
  check_param("maskclip", "attention", std::string("v"));
  check_param("maskclip", "residual", false);
  check_param("maskclip", "ffn", false);
  check_param("sclip", "attention", std::string("qq+kk"));
  check_param("sclip", "residual", true);
  check_param("sclip", "ffn", true);
  check_param("clearclip", "attention", std::string("qq"));
  check_param("clearclip", "residual", false);
  check_param("clearclip", "ffn", false);
  check_param("naclip", "attention", std::string("kk"));
  check_param("naclip", "gaussian_std", 5.0);
  check_param("naclip", "residual", false);
  check_param("naclip", "ffn", false);
  check_param("cliptrase", "attention", std::string("qq+kk+vv"));
  check_param("cliptrase", "residual", true);
  check_param("cliptrase", "ffn", true);
}

TEST_CASE("last_block: attention x residual x FFN x prior are independent knobs") {
  at::Tensor x = tokens_in(5);
  const std::vector<Spec> specs{
      {"qq+kk", false, true},         {"qq", true, false}, {"kk", true, true, 2.0},
      {"vanilla", false, false, 3.0}, {"v", true, true},   {"vv", false, true},
  };
  for (const Spec& s : specs) {
    CAPTURE(s.attention);
    CAPTURE(s.residual);
    CAPTURE(s.ffn);
    CAPTURE(s.gaussian_std);
    at::Tensor got = run_plugin(
        "last_block", x,
        {{"attention", s.attention}, {"residual", s.residual}, {"ffn", s.ffn}, {"gaussian_std", s.gaussian_std}});
    CHECK(rel_diff(got, reference(x, s)) < 1e-5);
  }
}

TEST_CASE("the comparison can fail: SCLIP averaged, NACLIP without prior, ClearCLIP with residual") {
  at::Tensor x = tokens_in();
  CHECK(rel_diff(run_plugin("sclip", x), reference(x, {"qq+kk", true, true, 0, 0.5})) > 1e-3);
  CHECK(rel_diff(run_plugin("naclip", x), reference(x, {"kk", false, false, 0})) > 1e-3);
  CHECK(rel_diff(run_plugin("clearclip", x), reference(x, {"qq", true, false})) > 1e-3);
  CHECK(rel_diff(run_plugin("naclip", x, {{"gaussian_std", 1.0}}), reference(x, {"kk", false, false, 5.0})) > 1e-4);
}

TEST_CASE("vanilla_block reproduces CLIP's own dense features from real image tokens") {
  at::manual_seed(9);
  at::Tensor px = at::randn({2, 3, kGridH * 16, kGridW * 16});
  at::NoGradGuard g;
  models::VisionForward f = model()->encode_image_tokens(px);
  auto stage = make_stage("vanilla_block");
  MapStageContext ctx;
  ctx.inputs["tokens"] = Tokens{f.penultimate, f.grid_h, f.grid_w, true};
  ctx.inputs["model"] = handle();
  stage->run(ctx);
  at::Tensor got = std::get<FeatureMap>(ctx.outputs.at("features")).features;
  at::Tensor dense = model()->dense_features(px);  // (B, h*w, E)
  CHECK(rel_diff(got.flatten(2).transpose(1, 2), dense) < 1e-6);
}

TEST_CASE("refinements reject bad inputs with the node, port and shapes") {
  auto stage = make_stage("sclip");
  MapStageContext ctx;
  ctx.inputs["model"] = handle();
  ctx.inputs["tokens"] = Tokens{at::randn({1, kGridH * kGridW, 128}), kGridH, kGridW, false};
  CHECK_THROWS_WITH_AS(stage->run(ctx), doctest::Contains("CLS"), std::invalid_argument);
  ctx.inputs["tokens"] = Tokens{at::randn({1, 1 + kGridH * kGridW, 64}), kGridH, kGridW, true};
  CHECK_THROWS_WITH_AS(stage->run(ctx), doctest::Contains("(1, 13, 64)"), std::exception);
  ctx.inputs["tokens"] = Tokens{at::randn({1, 1 + kGridH * kGridW, 128}), kGridH, kGridW, true};
  ctx.inputs["model"] = ModelHandle::of(std::make_shared<int>(1));
  CHECK_THROWS_WITH_AS(stage->run(ctx), doctest::Contains("input 'model'"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(make_stage("last_block", {{"attention", std::string("v")}, {"gaussian_std", 2.0}}),
                       doctest::Contains("gaussian_std"), std::invalid_argument);
}
