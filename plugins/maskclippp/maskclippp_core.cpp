#include "maskclippp_core.hpp"

#include <ovseg/sdk.hpp>

#include <cmath>
#include <map>
#include <stdexcept>

namespace ovseg::maskclippp {

namespace m = ovseg::models;

const std::vector<std::string>& t14_templates() {
  static const std::vector<std::string> t = {
      "a photo of a {}.",
      "This is a photo of a {}",
      "There is a {} in the scene",
      "There is the {} in the scene",
      "a photo of a {} in the scene",
      "a photo of a small {}.",
      "a photo of a medium {}.",
      "a photo of a large {}.",
      "This is a photo of a small {}.",
      "This is a photo of a medium {}.",
      "This is a photo of a large {}.",
      "There is a small {} in the scene.",
      "There is a medium {} in the scene.",
      "There is a large {} in the scene.",
  };
  return t;
}

at::Tensor resample_positions(const at::Tensor& pos, int64_t gh, int64_t gw) {
  const int64_t C = pos.size(1);
  const int64_t g = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(pos.size(0) - 1))));
  if (g * g != pos.size(0) - 1)
    throw std::invalid_argument("positional embedding " + shape_string(pos) + " is not 1 + g*g rows");
  if (gh == g && gw == g) return pos;
  at::Tensor local = pos.narrow(0, 1, g * g).reshape({g, g, C}).permute({2, 0, 1}).unsqueeze(0);
  at::Tensor up = at::upsample_bicubic2d(local, {gh, gw}, /*align_corners=*/true).squeeze(0);
  return at::cat({pos.narrow(0, 0, 1), up.permute({1, 2, 0}).reshape({gh * gw, C})}, 0);
}

at::Tensor downsample_masks(const at::Tensor& masks, int64_t gh, int64_t gw, const std::string& method) {
  const at::Tensor x = masks.unsqueeze(0);
  if (method == "bilinear") return at::upsample_bilinear2d(x, {gh, gw}, false).squeeze(0);
  if (method == "bicubic") return at::upsample_bicubic2d(x, {gh, gw}, false).squeeze(0);
  if (method == "nearest") return at::upsample_nearest2d(x, {gh, gw}).squeeze(0);
  if (method == "avg") return at::adaptive_avg_pool2d(x, {gh, gw}).squeeze(0);
  if (method == "max") return std::get<0>(at::adaptive_max_pool2d(x, {gh, gw})).squeeze(0);
  throw std::invalid_argument("unknown mask downsampling '" + method + "' (nearest, bilinear, bicubic, avg, max)");
}

MaskBiases mask_attention_biases(const at::Tensor& masks, int64_t gh, int64_t gw, const at::Tensor& mask_logit_scale,
                                 const std::string& method, double threshold) {
  MaskBiases out;
  if (masks.size(0) == 0) {  // an image without masks (e.g. a crop of ignored pixels only)
    out.areas = at::zeros({0}, masks.options().dtype(at::kFloat));
    out.bias = at::zeros({mask_logit_scale.size(0), mask_logit_scale.size(1), 0, gh * gw}, out.areas.options());
    return out;
  }
  const at::Tensor down = downsample_masks(masks.to(at::kFloat), gh, gw, method);  // (Q,gh,gw)
  out.areas = down.sum({1, 2});
  const at::Tensor flat = down.flatten(1);  // (Q,hw)
  const at::Tensor inside = threshold < 0 ? flat > std::get<0>(flat.max(1)).div(2).unsqueeze(1) : flat > threshold;
  // Not -inf outside: an empty mask would give a NaN softmax (the authors' comment).
  const at::Tensor scaled = flat.unsqueeze(0).unsqueeze(0) * mask_logit_scale.exp().unsqueeze(-1).unsqueeze(-1);
  out.bias = at::where(inside.unsqueeze(0).unsqueeze(0), scaled, at::full({}, -100.0, scaled.options()));
  return out;
}

at::Tensor mask_token_block(const m::ResidualBlockWeights& blk, const at::Tensor& tokens, const at::Tensor& x,
                            const at::Tensor& bias) {
  const int64_t Q = tokens.size(0), hw = x.size(0) - 1;
  const at::Tensor seq = at::cat({tokens, x}, 0).unsqueeze(0);  // [mask tokens; CLS; patches]
  const m::QKV qkv = m::block_qkv(blk, m::layer_norm(seq, blk.ln1_w, blk.ln1_b));
  const double scale = 1.0 / std::sqrt(static_cast<double>(blk.head_dim()));
  const at::Tensor q = qkv.q.narrow(2, 0, Q) * scale;  // (1,H,Q,d)
  const at::Tensor k = qkv.k.narrow(2, Q + 1, hw);     // patches only: CLS and mask tokens are -inf
  const at::Tensor v = qkv.v.narrow(2, Q + 1, hw);
  const at::Tensor attn = at::softmax(at::matmul(q, k.transpose(-2, -1)) + bias.unsqueeze(0), -1);
  at::Tensor h = tokens + m::block_out_proj(blk, m::merge_heads(at::matmul(attn, v))).squeeze(0);
  return h + m::block_mlp(blk, m::layer_norm(h, blk.ln2_w, blk.ln2_b));
}

MaskEmbeddings encode_masks(const m::ClipModel& model, const at::Tensor& positions, const at::Tensor& pixels,
                            const std::vector<at::Tensor>& masks, const at::Tensor& mask_logit_scale,
                            const EncodeOptions& o) {
  const auto& g = model.geometry();
  const int64_t L = g.vision_layers, p = g.patch_size, B = pixels.size(0);
  const int64_t begin = o.mask_prior_begin == 0 ? L : o.mask_prior_begin;
  if (begin < 1 || begin > L)
    throw std::invalid_argument("mask_prior_begin " + std::to_string(o.mask_prior_begin) + " is outside [1, " +
                                std::to_string(L) + "] (the model has " + std::to_string(L) + " blocks; 0 = the last)");
  if (static_cast<int64_t>(masks.size()) != B)
    throw std::invalid_argument("masks for " + std::to_string(masks.size()) + " images, pixels for " +
                                std::to_string(B));
  if (pixels.size(2) % p || pixels.size(3) % p)
    throw std::invalid_argument("image " + shape_string(pixels) + " is not a whole number of " + std::to_string(p) +
                                " px patches");
  const int64_t gh = pixels.size(2) / p, gw = pixels.size(3) / p, C = g.vision_width;
  if (mask_logit_scale.dim() != 2 || mask_logit_scale.size(0) != L - begin + 1 ||
      mask_logit_scale.size(1) != g.vision_heads)
    throw std::invalid_argument("mask_logit_scale " + shape_string(mask_logit_scale) + ", expected (" +
                                std::to_string(L - begin + 1) + ", " + std::to_string(g.vision_heads) + ")");

  // Patch embedding, CLS, positions (resampled as the authors do), ln_pre.
  at::Tensor x = at::conv2d(pixels, model.conv1_w, {}, {p, p}).flatten(2).transpose(1, 2);
  x = at::cat({model.class_embedding.view({1, 1, C}).expand({B, 1, C}).to(x.dtype()), x}, 1);
  x = m::layer_norm(x + resample_positions(positions, gh, gw), model.ln_pre_w, model.ln_pre_b);
  for (int64_t j = 0; j < begin - 1; ++j) x = m::residual_block_forward(model.vision_block(j), x);

  std::vector<at::Tensor> bias(B), tokens(B);
  MaskEmbeddings out;
  out.embeddings.resize(B);
  out.areas.resize(B);
  for (int64_t b = 0; b < B; ++b) {
    if (masks[b].dim() != 3 || masks[b].size(1) != pixels.size(2) || masks[b].size(2) != pixels.size(3))
      throw std::invalid_argument("masks of image " + std::to_string(b) + " are " + shape_string(masks[b]) +
                                  ", expected (Q, " + std::to_string(pixels.size(2)) + ", " +
                                  std::to_string(pixels.size(3)) + ")");
    MaskBiases mb = mask_attention_biases(masks[b], gh, gw, mask_logit_scale, o.downsample, o.threshold);
    bias[b] = mb.bias;
    out.areas[b] = mb.areas;
    tokens[b] = x[b][0].unsqueeze(0).expand({masks[b].size(0), C});  // initialised with the CLS token
  }
  const bool average = o.pooling == "mask_average";
  if (!average && o.pooling != "mask_attention")
    throw std::invalid_argument("unknown pooling '" + o.pooling + "' (mask_attention, mask_average)");
  for (int64_t j = begin - 1; j < L; ++j) {
    const auto& blk = model.vision_block(j);
    if (!average)
      for (int64_t b = 0; b < B; ++b)
        if (tokens[b].size(0) > 0) tokens[b] = mask_token_block(blk, tokens[b], x[b], bias[b][L - 1 - j]);
    // The patch path past the last mask block is needed only for mask_average.
    if (j < L - 1 || average) x = m::residual_block_forward(blk, x);
  }
  for (int64_t b = 0; b < B; ++b) {
    const int64_t Q = masks[b].size(0);
    if (Q == 0) {
      out.embeddings[b] = at::zeros({0, g.embed_dim}, x.options());
    } else if (average) {
      const at::Tensor dense = model.project_tokens(x.narrow(0, b, 1).narrow(1, 1, gh * gw)).squeeze(0);  // (hw,D)
      const at::Tensor w = downsample_masks(masks[b].to(at::kFloat), gh, gw, o.downsample).flatten(1);    // (Q,hw)
      out.embeddings[b] = at::matmul(w, dense) / w.sum(1, true).clamp_min(1e-6);
    } else {
      out.embeddings[b] = model.project_tokens(tokens[b].unsqueeze(0)).squeeze(0);
    }
  }
  return out;
}

at::Tensor correlations(const at::Tensor& mask_embeddings, const at::Tensor& text, double logit_scale) {
  at::Tensor c = at::einsum("ktd,nd->nkt", {text, l2_normalize(mask_embeddings, -1)});
  if (logit_scale > 0) c = c * std::min(logit_scale, 100.0);
  return c;
}

at::Tensor linear_psm(const at::Tensor& corrs, const at::Tensor& w_in, const at::Tensor& b_in, const at::Tensor& w_out,
                      const at::Tensor& b_out) {
  return at::linear(at::linear(corrs, w_in, b_in), w_out, b_out).squeeze(-1);
}

at::Tensor max_over_synonyms(const at::Tensor& scores, const std::vector<int64_t>& synonyms_per_class) {
  std::vector<at::Tensor> cols;
  int64_t begin = 0;
  for (int64_t n : synonyms_per_class) {
    cols.push_back(std::get<0>(scores.narrow(1, begin, n).max(1)));
    begin += n;
  }
  if (begin != scores.size(1))
    throw std::invalid_argument("synonym counts sum to " + std::to_string(begin) + ", scores have " +
                                std::to_string(scores.size(1)) + " columns");
  return at::stack(cols, 1);
}

at::Tensor reweighted_ce(const at::Tensor& logits_in, const at::Tensor& labels_in, const at::Tensor& mask2batch_in,
                         const at::Tensor& areas, double temperature, bool balance, bool ignore_empty) {
  at::Tensor logits = logits_in, labels = labels_in, mask2batch = mask2batch_in;
  if (logits.size(0) == 0) return logits.sum() * 0;
  if (ignore_empty) {
    const at::Tensor keep = areas > 0;
    logits = logits.index({keep});
    labels = labels.index({keep});
    mask2batch = mask2batch.index({keep});
  }
  const at::Tensor losses = at::nll_loss(at::log_softmax(logits / temperature, 1), labels, {}, at::Reduction::None,
                                         -100);
  // Weights from the labels (no gradient): computed on the CPU.
  const at::Tensor lab = labels.cpu().contiguous(), bat = mask2batch.cpu().contiguous();
  const int64_t N = lab.size(0);
  const int64_t* l = lab.data_ptr<int64_t>();
  const int64_t* bb = bat.data_ptr<int64_t>();
  std::map<int64_t, std::map<int64_t, int64_t>> counts;  // image -> class -> masks
  std::map<int64_t, int64_t> per_image;
  for (int64_t i = 0; i < N; ++i) ++counts[bb[i]][l[i]], ++per_image[bb[i]];
  const double images = static_cast<double>(counts.size());
  at::Tensor w = at::zeros({N}, at::kDouble);
  double* wp = w.data_ptr<double>();
  for (int64_t i = 0; i < N; ++i)
    wp[i] = balance
                ? 1.0 / (images * static_cast<double>(counts[bb[i]].size()) * static_cast<double>(counts[bb[i]][l[i]]))
                : 1.0 / (images * static_cast<double>(per_image[bb[i]]));
  return (losses * w.to(losses.options())).sum();
}

at::Tensor semantic_merge(const at::Tensor& class_logits, const at::Tensor& masks) {
  return at::einsum("qc,qhw->chw", {at::softmax(class_logits, -1), masks});
}

at::Tensor geometric_ensemble(const at::Tensor& logits, const at::Tensor& segmentor_logits, const at::Tensor& seen,
                              double alpha, double beta) {
  const at::Tensor prob = at::softmax(logits, -1);
  const at::Tensor prob_f = at::softmax(segmentor_logits.narrow(1, 0, segmentor_logits.size(1) - 1), -1);
  const at::Tensor s = seen.to(at::kLong);
  return (prob_f.pow(1 - alpha) * prob.pow(alpha) + 1e-8).log() * s +
         (prob_f.pow(1 - beta) * prob.pow(beta) + 1e-8).log() * (1 - s);
}

}  // namespace ovseg::maskclippp
