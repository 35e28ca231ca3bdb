#include "catseg_clip.hpp"

#include <limits>
#include <stdexcept>

#include <ATen/ATen.h>

namespace ovseg::catseg {

namespace {

void list_block(std::vector<std::pair<std::string, at::Tensor>>& out, const std::string& p,
                models::ResidualBlockWeights& b) {
  out.emplace_back(p + "ln_1.weight", b.ln1_w);
  out.emplace_back(p + "ln_1.bias", b.ln1_b);
  out.emplace_back(p + "attn.q_proj_weight", b.q_w);
  out.emplace_back(p + "attn.k_proj_weight", b.k_w);
  out.emplace_back(p + "attn.v_proj_weight", b.v_w);
  out.emplace_back(p + "attn.in_proj_bias", b.in_proj_b);
  out.emplace_back(p + "attn.out_proj.weight", b.out_proj_w);
  out.emplace_back(p + "attn.out_proj.bias", b.out_proj_b);
  out.emplace_back(p + "ln_2.weight", b.ln2_w);
  out.emplace_back(p + "ln_2.bias", b.ln2_b);
  out.emplace_back(p + "mlp.c_fc.weight", b.fc_w);
  out.emplace_back(p + "mlp.c_fc.bias", b.fc_b);
  out.emplace_back(p + "mlp.c_proj.weight", b.proj_w);
  out.emplace_back(p + "mlp.c_proj.bias", b.proj_b);
}

}  // namespace

CatSegClip::CatSegClip(const models::ClipModel& model) : model_(model.clone()) {
  model_->split_vision_in_proj();
  for (int64_t i = 0; i < model_->geometry().text_layers; ++i) {
    models::ResidualBlockWeights b = model_->text_block(i);  // shares the clone's tensors
    b.split_in_proj();
    text_blocks_.push_back(b);
  }
}

CatSegClip::Dense CatSegClip::encode_image_dense(const at::Tensor& pixels, const std::vector<int64_t>& layers) const {
  const int64_t L = model_->geometry().vision_layers;
  for (int64_t l : layers)
    if (l < 0 || l >= L)
      throw std::invalid_argument("guidance layer " + std::to_string(l) + " is not a block of this " +
                                  std::to_string(L) + "-block CLIP");
  int64_t gh = 0, gw = 0;
  // conv1, CLS, positions (bicubic, align_corners=False, when the grid
  // differs: resized_pos_embed), ln_pre.
  at::Tensor x = model_->embed_image(pixels, &gh, &gw);
  const int64_t B = x.size(0), HW = gh * gw;
  auto to_map = [&](const at::Tensor& t) {  // (B, 1+HW, C) -> (B, C, h, w), CLS dropped
    return t.narrow(1, 1, HW).transpose(1, 2).reshape({B, t.size(2), gh, gw});
  };
  Dense out;
  out.layers.resize(layers.size());
  auto keep = [&](int64_t block, const at::Tensor& t) {
    for (size_t i = 0; i < layers.size(); ++i)
      if (layers[i] == block) out.layers[i] = to_map(t);
  };
  for (int64_t i = 0; i < L - 1; ++i) {
    x = models::residual_block_forward(model_->vision_block(i), x);
    keep(i, x);
  }
  const models::ResidualBlockWeights& blk = model_->vision_block(L - 1);
  for (int64_t l : layers)
    if (l == L - 1) keep(L - 1, models::residual_block_forward(blk, x));
  // forward_dense: v = out_proj(v_proj(ln_1(x))) + x[CLS]; v + mlp(ln_2(v)).
  const int64_t C = blk.width();
  at::Tensor y = models::layer_norm(x, blk.ln1_w, blk.ln1_b);
  at::Tensor v = at::linear(y, blk.projection_weight(2), blk.in_proj_b.narrow(0, 2 * C, C));
  v = models::block_out_proj(blk, v) + x.narrow(1, 0, 1);
  v = v + models::block_mlp(blk, models::layer_norm(v, blk.ln2_w, blk.ln2_b));
  out.features = to_map(model_->project_tokens(v));
  return out;
}

at::Tensor CatSegClip::encode_text(const at::Tensor& token_ids) const {
  const auto& m = *model_;
  at::Tensor ids = token_ids.to(m.token_embedding.device(), at::kLong);
  at::Tensor eot = ids.argmax(-1);
  // Columns after the last EOT never reach an EOT output under the causal mask.
  const int64_t used = eot.max().item<int64_t>() + 1;
  ids = ids.slice(1, 0, used);
  const int64_t K = ids.size(0), L = ids.size(1);
  at::Tensor x = at::embedding(m.token_embedding, ids) + m.text_positional_embedding.slice(0, 0, L);
  at::Tensor mask = at::full({L, L}, -std::numeric_limits<float>::infinity(), x.options()).triu_(1);
  for (const auto& b : text_blocks_) x = models::residual_block_forward(b, x, mask);
  at::Tensor rows = at::arange(K, ids.options()) * L + eot;
  at::Tensor pooled = x.reshape({K * L, x.size(-1)}).index_select(0, rows);
  return at::matmul(models::layer_norm(pooled, m.ln_final_w, m.ln_final_b), m.text_projection);
}

std::vector<std::pair<std::string, at::Tensor>> CatSegClip::tensors() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  auto& m = *model_;
  out.emplace_back("positional_embedding", m.text_positional_embedding);
  out.emplace_back("text_projection", m.text_projection);
  for (auto& [n, t] : m.vision_tensors()) out.emplace_back(n, t);
  for (size_t i = 0; i < text_blocks_.size(); ++i)
    list_block(out, "transformer.resblocks." + std::to_string(i) + ".", text_blocks_[i]);
  out.emplace_back("token_embedding.weight", m.token_embedding);
  out.emplace_back("ln_final.weight", m.ln_final_w);
  out.emplace_back("ln_final.bias", m.ln_final_b);
  return out;
}

void CatSegClip::to(at::Device device) {
  model_->to(device);
  // The text blocks share the model's tensors except the split q/k/v; rebuild them from the moved model.
  std::vector<models::ResidualBlockWeights> moved;
  for (size_t i = 0; i < text_blocks_.size(); ++i) {
    models::ResidualBlockWeights b = model_->text_block(static_cast<int64_t>(i));
    b.in_proj_w = at::Tensor();
    b.q_w = text_blocks_[i].q_w.to(device);
    b.k_w = text_blocks_[i].k_w.to(device);
    b.v_w = text_blocks_[i].v_w.to(device);
    moved.push_back(b);
  }
  text_blocks_ = std::move(moved);
}

}  // namespace ovseg::catseg
