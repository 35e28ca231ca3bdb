// See <ovseg/clip/last_block.hpp>. Formulas follow the authors' custom_attn functions:
// logits = bmm(a, b^T) * head_dim^-0.5 per head, softmax over the last axis,
// the softmaxes summed (SCLIP adds, it does not average), then @ v, heads
// merged, out_proj.
#include "ovseg/clip/last_block.hpp"

#include <cmath>
#include <sstream>

namespace ovseg::clip {

namespace {

Operand operand_of(char c, const std::string& kind) {
  switch (c) {
    case 'q': return Operand::Q;
    case 'k': return Operand::K;
    case 'v': return Operand::V;
    default:
      throw std::invalid_argument("attention '" + kind + "': unknown operand '" + std::string(1, c) +
                                  "' (use pairs of q, k, v joined by '+', e.g. \"qq+kk\")");
  }
}

}  // namespace

const std::vector<std::string>& attention_choices() {
  static const std::vector<std::string> c{"vanilla", "v",     "qq",    "kk",       "vv",
                                          "qq+kk",   "qq+vv", "kk+vv", "qq+kk+vv", "qk"};
  return c;
}

std::vector<AttentionTerm> parse_attention(const std::string& kind) {
  if (kind == "v") return {};  // MaskCLIP: identity attention on v
  if (kind == "vanilla") return {{Operand::Q, Operand::K}};
  std::vector<AttentionTerm> terms;
  std::stringstream ss(kind);
  std::string part;
  while (std::getline(ss, part, '+')) {
    if (part.size() != 2)
      throw std::invalid_argument("attention '" + kind + "': term '" + part + "' is not a pair like qq, kk, vv or qk");
    terms.push_back({operand_of(part[0], kind), operand_of(part[1], kind)});
  }
  if (terms.empty()) throw std::invalid_argument("attention kind is empty");
  return terms;
}

at::Tensor gaussian_prior(int64_t h, int64_t w, double std, const at::TensorOptions& opts) {
  // NACLIP convolves a one-hot per patch with a (2h-1, 2w-1) Gaussian window
  // exp(-(dy^2 + dx^2) / (2 std^2)); the window covers every offset, so the
  // result is the Gaussian of the distance between the two patches.
  auto f32 = at::TensorOptions().dtype(at::kFloat);
  at::Tensor ys = at::arange(h, f32).repeat_interleave(w);  // row of each patch
  at::Tensor xs = at::arange(w, f32).repeat({h});           // column of each patch
  at::Tensor d2 = (ys.unsqueeze(1) - ys.unsqueeze(0)).square() + (xs.unsqueeze(1) - xs.unsqueeze(0)).square();
  at::Tensor g = at::exp(d2 / (-2.0 * std * std));
  // CLS row and column: no prior.
  return at::constant_pad_nd(g, {1, 0, 1, 0}, 0.0).to(opts);
}

at::Tensor softmax_attention(const at::Tensor& a, const at::Tensor& b, double scale, const at::Tensor& prior) {
  at::Tensor logits = at::matmul(a, b.transpose(-2, -1)).mul_(scale);
  if (prior.defined()) logits.add_(prior);
  return at::softmax(logits, -1);
}

at::Tensor LastBlock::attention_output(const models::ResidualBlockWeights& blk, const at::Tensor& x_ln1, int64_t grid_h,
                                       int64_t grid_w) {
  const int64_t C = blk.width();
  if (cfg_.custom_attention) {
    const models::QKV qkv = models::block_qkv(blk, x_ln1);
    const AttentionOperands ops{qkv.q,  qkv.k,  qkv.v,
                                grid_h, grid_w, 1.0 / std::sqrt(static_cast<double>(blk.head_dim()))};
    const at::Tensor attn = cfg_.custom_attention(ops);
    expect_shape(attn, {qkv.v.size(0), qkv.v.size(1), qkv.v.size(2), qkv.v.size(2)},
                 "custom attention map (B, heads, 1+h*w, 1+h*w)");
    return models::block_out_proj(blk, models::merge_heads(at::matmul(attn, qkv.v)));
  }
  if (cfg_.terms.empty()) {
    // MaskCLIP: each token attends only to itself, so the output is its own
    // value vector: v_proj then out_proj (q and k are never needed).
    at::Tensor v = at::linear(x_ln1, blk.projection_weight(2), blk.in_proj_b.narrow(0, 2 * C, C));
    return models::block_out_proj(blk, v);
  }
  // Project only the operands the map uses (ClearCLIP needs no k, NACLIP
  // no q): a third less in-projection work for single-pair attentions.
  bool need[3] = {false, false, true};  // q, k, v (v is always mixed)
  for (const AttentionTerm& t : cfg_.terms) need[static_cast<int>(t.a)] = need[static_cast<int>(t.b)] = true;
  models::QKV qkv;
  if (need[0] && need[1]) {
    qkv = models::block_qkv(blk, x_ln1);  // (B, H, N, d) each, one fused linear
  } else {
    const int64_t B = x_ln1.size(0), N = x_ln1.size(1);
    auto project = [&](int64_t i) {
      return at::linear(x_ln1, blk.projection_weight(i), blk.in_proj_b.narrow(0, i * C, C))
          .view({B, N, blk.heads, blk.head_dim()})
          .transpose(1, 2);
    };
    if (need[0]) qkv.q = project(0);
    if (need[1]) qkv.k = project(1);
    qkv.v = project(2);
  }
  const double scale = 1.0 / std::sqrt(static_cast<double>(blk.head_dim()));
  auto pick = [&](Operand o) -> const at::Tensor& { return o == Operand::Q ? qkv.q : o == Operand::K ? qkv.k : qkv.v; };
  at::Tensor prior;
  if (cfg_.gaussian_std > 0) {
    const auto key = std::make_pair(grid_h, grid_w);
    auto it = prior_cache_.find(key);
    if (it == prior_cache_.end() || it->second.device() != x_ln1.device())
      it = prior_cache_.insert_or_assign(key, gaussian_prior(grid_h, grid_w, cfg_.gaussian_std, x_ln1.options())).first;
    prior = it->second;
  }
  at::Tensor attn;
  for (const AttentionTerm& t : cfg_.terms) {
    at::Tensor logits;
    if (t.a == Operand::Q && t.b == Operand::K)
      logits = at::matmul(qkv.q * scale, qkv.k.transpose(-2, -1));  // as nn.MultiheadAttention
    else
      logits = at::matmul(pick(t.a), pick(t.b).transpose(-2, -1)).mul_(scale);  // bmm(a, b^T) * scale
    if (prior.defined()) logits.add_(prior);
    at::Tensor p = at::softmax(logits, -1);
    attn = attn.defined() ? attn.add_(p) : p;
  }
  return models::block_out_proj(blk, models::merge_heads(at::matmul(attn, qkv.v)));
}

at::Tensor LastBlock::run_block(const models::ResidualBlockWeights& blk, const Tokens& tokens) {
  const at::Tensor& x = tokens.tokens;
  at::Tensor y = attention_output(blk, models::layer_norm(x, blk.ln1_w, blk.ln1_b), tokens.grid_h, tokens.grid_w);
  if (cfg_.residual) y = y + x;
  // ClearCLIP's decomposition: the FFN acts on whatever the attention branch
  // produced (with or without the residual), and adds its output to it.
  if (cfg_.ffn) y = y + models::block_mlp(blk, models::layer_norm(y, blk.ln2_w, blk.ln2_b));
  return y;
}

LastBlock::Projected LastBlock::project(const models::ClipModel& model, const Tokens& tokens) {
  at::Tensor all = model.project_tokens(run_block(model.last_vision_block(), tokens));  // (B, 1+h*w, embed)
  return {tokens_to_map(all.narrow(1, 1, tokens.grid_h * tokens.grid_w), tokens.grid_h, tokens.grid_w),
          tokens_to_map(all.narrow(1, 0, 1), 1, 1)};
}

void check_block_input(const Tokens& tokens, const models::ClipModel& model, const std::string& what) {
  if (!tokens.has_cls)
    throw std::invalid_argument(what + ": expected tokens with a leading CLS token (clip_image's 'tokens')");
  expect_shape(tokens.tokens, {-1, 1 + tokens.grid_h * tokens.grid_w, model.geometry().vision_width},
               what + " (B, 1+h*w, width) for grid " + std::to_string(tokens.grid_h) + "x" +
                   std::to_string(tokens.grid_w));
}

std::shared_ptr<models::ClipModel> clip_model_input(StageContext& ctx, const std::string& port) {
  try {
    return ctx.model<models::ClipModel>(port);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string(e.what()) + " -- fix: wire clip_image's 'model' output");
  }
}

at::Tensor tokens_to_map(const at::Tensor& tokens, int64_t h, int64_t w) {
  return tokens.transpose(1, 2).reshape({tokens.size(0), tokens.size(2), h, w}).contiguous();
}

}  // namespace ovseg::clip
