// CLIP model: geometry inference on the published shapes, positional
// embedding interpolation, and forward parity against an independent,
// deliberately naive restatement of openai/CLIP's formulas (per-head loops,
// hand-written LayerNorm/softmax/QuickGELU, patch embedding via unfold).
#include "models_test_util.hpp"

#include <ovseg/models/clip_model.hpp>
#include <ovseg/models/random_clip.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

using namespace ovseg::models;
using ovseg_test::max_abs_diff;

namespace {

// The message of the CheckpointError that loading `sd` as `source` throws;
// fails the test when it loads.
std::string rejection_message(const StateDict& sd, const std::string& source) {
  try {
    ClipModel::from_state_dict(sd, source);
  } catch (const CheckpointError& e) {
    return e.what();
  }
  FAIL("expected a CheckpointError");
  return {};
}

// ---------------------------------------------------------------- reference
at::Tensor ref_ln(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  auto mean = x.mean(-1, true);
  auto var = (x - mean).pow(2).mean(-1, true);
  return (x - mean) / (var + 1e-5).sqrt() * w + b;
}

at::Tensor ref_block(const ResidualBlockWeights& bw, const at::Tensor& x, bool causal) {
  const int64_t C = x.size(2), H = bw.heads, d = C / H, N = x.size(1);
  auto h = ref_ln(x, bw.ln1_w, bw.ln1_b);
  std::vector<at::Tensor> heads;
  for (int64_t i = 0; i < H; ++i) {
    auto rows = [&](int64_t which) { return bw.in_proj_w.slice(0, which * C + i * d, which * C + (i + 1) * d); };
    auto bias = [&](int64_t which) { return bw.in_proj_b.slice(0, which * C + i * d, which * C + (i + 1) * d); };
    auto q = h.matmul(rows(0).t()) + bias(0);
    auto k = h.matmul(rows(1).t()) + bias(1);
    auto v = h.matmul(rows(2).t()) + bias(2);
    auto s = q.matmul(k.transpose(1, 2)) / std::sqrt(double(d));
    if (causal) {
      auto upper = at::ones({N, N}, at::kBool).triu(1);
      s = s.masked_fill(upper, -std::numeric_limits<float>::infinity());
    }
    auto p = (s - std::get<0>(s.max(-1, true))).exp();
    p = p / p.sum(-1, true);
    heads.push_back(p.matmul(v));
  }
  auto a = at::cat(heads, -1).matmul(bw.out_proj_w.t()) + bw.out_proj_b;
  auto y = x + a;
  auto m = ref_ln(y, bw.ln2_w, bw.ln2_b).matmul(bw.fc_w.t()) + bw.fc_b;
  m = m / (1 + (-1.702 * m).exp());
  return y + (m.matmul(bw.proj_w.t()) + bw.proj_b);
}

// Tokens after the last block (B,1+N,C), native grid only.
at::Tensor ref_image_tokens(const ClipModel& m, const at::Tensor& px) {
  const auto& g = m.geometry();
  const int64_t P = g.patch_size, C = g.vision_width, B = px.size(0);
  auto patches = px.unfold(2, P, P).unfold(3, P, P);  // (B,3,gh,gw,P,P)
  const int64_t gh = patches.size(2), gw = patches.size(3);
  patches = patches.permute({0, 2, 3, 1, 4, 5}).reshape({B, gh * gw, 3 * P * P});
  auto x = patches.matmul(m.conv1_w.reshape({C, 3 * P * P}).t());
  x = at::cat({m.class_embedding.view({1, 1, C}).repeat({B, 1, 1}), x}, 1) + m.vision_positional_embedding;
  x = ref_ln(x, m.ln_pre_w, m.ln_pre_b);
  for (int64_t i = 0; i < g.vision_layers; ++i) x = ref_block(m.vision_block(i), x, false);
  return x;
}

at::Tensor ref_encode_text(const ClipModel& m, const at::Tensor& ids) {
  const auto& g = m.geometry();
  const int64_t K = ids.size(0), L = ids.size(1);
  auto x = m.token_embedding.index_select(0, ids.flatten()).view({K, L, g.text_width}) +
           m.text_positional_embedding.slice(0, 0, L);
  for (int64_t i = 0; i < g.text_layers; ++i) x = ref_block(m.text_block(i), x, true);
  x = ref_ln(x, m.ln_final_w, m.ln_final_b);  // on all tokens, as openai/CLIP does
  std::vector<at::Tensor> rows;
  for (int64_t k = 0; k < K; ++k) rows.push_back(x[k][ids[k].argmax().item<int64_t>()]);
  return at::stack(rows).matmul(m.text_projection);
}

std::shared_ptr<ClipModel> small_model(uint64_t seed = 1) {
  return ClipModel::from_state_dict(make_random_clip_state_dict(ovseg_test::small_geometry(), seed), "random");
}

}  // namespace

TEST_CASE("geometry inference on the published ViT shapes") {
  for (const char* name : {"ViT-B/32", "ViT-B/16", "ViT-L/14", "ViT-L/14@336", "tiny"}) {
    CAPTURE(name);
    const ClipGeometry preset = clip_geometry_preset(name);
    // Shape-only tensors: build_model-style inference and full shape validation.
    const StateDict sd = make_random_clip_state_dict(preset, 0, /*uninitialized=*/true);
    const ClipGeometry g = infer_clip_geometry(sd, name);
    CHECK(g == preset);
    auto model = ClipModel::from_state_dict(sd, name);
    CHECK(model->geometry() == preset);
    CHECK(model->last_vision_block().heads == preset.vision_width / 64);
  }
  const ClipGeometry b16 = clip_geometry_preset("ViT-B/16");
  CHECK(b16.grid() == 14);
  CHECK(b16.vision_heads == 12);
  CHECK(clip_geometry_preset("ViT-L/14@336").grid() == 24);
  CHECK(clip_geometry_preset("ViT-B/32").grid() == 7);
  CHECK_THROWS_AS(clip_geometry_preset("RN50"), std::invalid_argument);
}

TEST_CASE("ModifiedResNet checkpoints are rejected clearly") {
  StateDict sd = make_random_clip_state_dict(clip_geometry_preset("tiny"), 0, true);
  sd["visual.layer1.0.conv1.weight"] = at::empty({64, 64, 1, 1});
  const std::string msg = rejection_message(sd, "RN50.pt");
  CHECK(msg.find("RN50.pt") != std::string::npos);
  CHECK(msg.find("ModifiedResNet") != std::string::npos);
}

TEST_CASE("positional embedding interpolation") {
  auto gen = at::detail::createCPUGenerator(3);
  const int64_t g = 4, C = 8;
  auto pos = at::randn({1 + g * g, C}, gen, at::TensorOptions().dtype(at::kFloat));

  SUBCASE("identity when the grid is unchanged") { CHECK(interpolate_positional_embedding(pos, g, g).equal(pos)); }
  SUBCASE("non-square target, CLS row kept, matches upsample_bicubic2d") {
    auto out = interpolate_positional_embedding(pos, 14, 20);
    REQUIRE(out.sizes() == at::IntArrayRef({1 + 14 * 20, C}));
    CHECK(out[0].equal(pos[0]));
    // Independent layout: fill (1,C,g,g) element by element from row-major rows.
    auto grid = at::empty({1, C, g, g});
    for (int64_t i = 0; i < g; ++i)
      for (int64_t j = 0; j < g; ++j) grid[0].select(1, i).select(1, j).copy_(pos[1 + i * g + j]);
    auto up = at::upsample_bicubic2d(grid, {14, 20}, false);
    for (int64_t i : {0, 5, 13})
      for (int64_t j : {0, 7, 19}) CHECK(max_abs_diff(out[1 + i * 20 + j], up[0].select(1, i).select(1, j)) < 1e-6);
  }
  SUBCASE("a constant embedding stays constant") {
    auto flat = at::ones({1 + g * g, C}) * 0.25;
    auto out = interpolate_positional_embedding(flat, 7, 3);
    CHECK(max_abs_diff(out, at::ones({1 + 21, C}) * 0.25) < 1e-6);
  }
}

TEST_CASE("image and text towers match a direct restatement of CLIP's formulas") {
  auto m = small_model();
  const auto& g = m->geometry();
  auto px = ovseg_test::test_pixels(2, g.image_resolution, g.image_resolution);

  auto tokens = ref_image_tokens(*m, px);
  auto ref_pooled = ref_ln(tokens.select(1, 0), m->ln_post_w, m->ln_post_b).matmul(m->visual_proj);
  auto ref_dense = ref_ln(tokens.slice(1, 1), m->ln_post_w, m->ln_post_b).matmul(m->visual_proj);

  auto pooled = m->encode_image(px);
  CHECK(pooled.sizes() == at::IntArrayRef({2, g.embed_dim}));
  CHECK(max_abs_diff(pooled, ref_pooled) < 1e-4);
  int64_t gh = 0, gw = 0;
  auto dense = m->dense_features(px, &gh, &gw);
  CHECK(gh == 4);
  CHECK(gw == 4);
  CHECK(dense.sizes() == at::IntArrayRef({2, 16, g.embed_dim}));
  CHECK(max_abs_diff(dense, ref_dense) < 1e-4);

  auto ids = ovseg_test::test_tokens(g.vocab_size, g.context_length);
  auto text = m->encode_text(ids);
  CHECK(text.sizes() == at::IntArrayRef({3, g.embed_dim}));
  CHECK(max_abs_diff(text, ref_encode_text(*m, ids)) < 1e-4);
  // Rows whose EOT comes early run on truncated columns: same result as the
  // full-length reference.
  CHECK(max_abs_diff(m->encode_text(ids.slice(0, 0, 2)), ref_encode_text(*m, ids.slice(0, 0, 2))) < 1e-4);
  // Causality: tokens after EOT must not change the pooled feature.
  auto ids2 = ids.clone();
  ids2[0][10] = 17;
  CHECK(max_abs_diff(m->encode_text(ids2)[0], text[0]) < 1e-6);
  // A shorter context (L < 77) gives the same result for a short prompt.
  CHECK(max_abs_diff(m->encode_text(ids.slice(0, 0, 1).slice(1, 0, 8)), text.slice(0, 0, 1)) < 1e-5);
  CHECK(std::abs(m->logit_scale - 1.0f / 0.07f) < 1e-3);
}

TEST_CASE("token forward exposes blocks, the last block's input and its q/k/v") {
  auto m = small_model(2);
  const auto& g = m->geometry();
  auto px = ovseg_test::test_pixels(1, 64, 64, 11);
  auto f = m->encode_image_tokens(px, /*keep_all_blocks=*/true);
  REQUIRE(static_cast<int64_t>(f.block_tokens.size()) == g.vision_layers);
  CHECK(f.block_tokens[g.vision_layers - 2].equal(f.penultimate));
  CHECK(f.block_tokens.back().equal(f.final_tokens));
  CHECK(max_abs_diff(residual_block_forward(m->last_vision_block(), f.penultimate), f.final_tokens) < 1e-6);
  CHECK(max_abs_diff(m->run_vision_blocks(f.embedded, 0, g.vision_layers), f.final_tokens) < 1e-6);

  auto stop = m->encode_image_tokens(px, false, /*run_last_block=*/false);
  CHECK_FALSE(stop.final_tokens.defined());
  CHECK(stop.penultimate.equal(f.penultimate));

  // Recompute the last block's attention from block_qkv by hand.
  const auto& blk = m->last_vision_block();
  auto x1 = layer_norm(f.penultimate, blk.ln1_w, blk.ln1_b);
  auto qkv = block_qkv(blk, x1);
  CHECK(qkv.q.sizes() == at::IntArrayRef({1, blk.heads, 17, blk.head_dim()}));
  auto attn = at::softmax(at::matmul(qkv.q, qkv.k.transpose(-2, -1)) / std::sqrt(double(blk.head_dim())), -1);
  auto out = block_out_proj(blk, merge_heads(at::matmul(attn, qkv.v)));
  CHECK(max_abs_diff(out, block_attention(blk, x1)) < 1e-6);
  // Projecting the final tokens equals dense_features + pooled CLS.
  auto proj = m->project_tokens(f.final_tokens);
  CHECK(max_abs_diff(proj.slice(1, 1), m->dense_features(px)) < 1e-6);
  CHECK(max_abs_diff(proj.select(1, 0), m->encode_image(px)) < 1e-6);
}

TEST_CASE("non-square inputs interpolate positions; bad sizes are rejected") {
  auto m = small_model(3);
  int64_t gh = 0, gw = 0;
  auto dense = m->dense_features(ovseg_test::test_pixels(1, 64, 96), &gh, &gw);
  CHECK(gh == 4);
  CHECK(gw == 6);
  CHECK(dense.sizes() == at::IntArrayRef({1, 24, 32}));
  CHECK(std::isfinite(dense.abs().sum().item<double>()));
  CHECK_THROWS(m->encode_image(ovseg_test::test_pixels(1, 64, 70)));
  CHECK_THROWS(m->encode_image(at::zeros({1, 1, 64, 64})));
  CHECK_THROWS(m->encode_text(at::zeros({1, 78}, at::kLong)));
  CHECK_THROWS(m->encode_text(at::full({1, 5}, 5000, at::kLong)));
}

TEST_CASE("state_dict round trip and fp16 checkpoints load as float32") {
  auto sd = make_random_clip_state_dict(ovseg_test::small_geometry(), 4);
  auto m = ClipModel::from_state_dict(sd, "random");
  auto again = ClipModel::from_state_dict(m->state_dict(), "copy");
  auto px = ovseg_test::test_pixels(1, 64, 64);
  CHECK(max_abs_diff(m->encode_image(px), again->encode_image(px)) == 0.0);

  StateDict half;
  for (const auto& kv : sd) half[kv.first] = kv.second.is_floating_point() ? kv.second.to(at::kHalf) : kv.second;
  auto mh = ClipModel::from_state_dict(half, "half");
  CHECK((mh->conv1_w.scalar_type() == at::kFloat));
  CHECK((mh->vision_block(0).in_proj_w.scalar_type() == at::kFloat));
  // fp16 rounding of the weights only: features stay close.
  CHECK(max_abs_diff(mh->encode_image(px), m->encode_image(px)) < 5e-2);
}

TEST_CASE("misshaped and missing tensors are named") {
  auto sd = make_random_clip_state_dict(ovseg_test::small_geometry(), 5, true);
  SUBCASE("misshaped") {
    sd["visual.transformer.resblocks.1.mlp.c_fc.weight"] = at::empty({100, 128});
    const std::string msg = rejection_message(sd, "my.ckpt");
    CHECK(msg.find("my.ckpt") != std::string::npos);
    CHECK(msg.find("visual.transformer.resblocks.1.mlp.c_fc.weight") != std::string::npos);
    CHECK(msg.find("[100, 128]") != std::string::npos);
    CHECK(msg.find("[512, 128]") != std::string::npos);
  }
  SUBCASE("missing") {
    sd.erase("transformer.resblocks.0.ln_2.bias");
    const std::string msg = rejection_message(sd, "my.ckpt");
    CHECK(msg.find("my.ckpt") != std::string::npos);
    CHECK(msg.find("transformer.resblocks.0.ln_2.bias") != std::string::npos);
  }
}

TEST_CASE("CLIP pixel normalisation") {
  auto px = at::ones({1, 3, 2, 2}) * 0.5;
  auto n = normalize_clip_pixels(px);
  CHECK(std::abs(n[0][0][0][0].item<float>() - (0.5f - 0.48145466f) / 0.26862954f) < 1e-6);
  CHECK(std::abs(n[0][2][1][1].item<float>() - (0.5f - 0.40821073f) / 0.27577711f) < 1e-6);
}

TEST_CASE("QuickGELU: the inference path (silu-based) matches the autograd path") {
  auto x = at::randn({4, 7, 16});
  auto expected = x * at::sigmoid(1.702 * x);
  // The inference path computes silu(1.702 x) / 1.702: equal up to float rounding.
  CHECK(at::allclose(quick_gelu(x), expected, /*rtol=*/1e-6, /*atol=*/1e-7));
  auto xg = x.clone().requires_grad_(true);
  auto y = quick_gelu(xg);
  CHECK(y.requires_grad());
  y.sum().backward();  // must not trip over an in-place modification
  CHECK(xg.grad().defined());
}

TEST_CASE("the model runs on CUDA when LibTorch has it" * doctest::skip(!at::hasCUDA())) {
  auto m = small_model(6);
  auto px = ovseg_test::test_pixels(2, 64, 64);
  auto ids = ovseg_test::test_tokens(1000, 77);
  auto cpu_img = m->encode_image(px), cpu_txt = m->encode_text(ids);
  m->to(at::Device(at::kCUDA, 0));
  CHECK(m->device().is_cuda());
  CHECK(max_abs_diff(m->encode_image(px.cuda()).cpu(), cpu_img) < 1e-3);
  CHECK(max_abs_diff(m->encode_text(ids.cuda()).cpu(), cpu_txt) < 1e-3);
}
