#include "escnet_sam_block.hpp"

#include <cmath>
#include <stdexcept>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x

namespace ovseg::catseg {

namespace {

constexpr int64_t kHeads = 8;  // SAM's TwoWayTransformer(num_heads=8)

at::Tensor uniform(std::vector<int64_t> shape, int64_t fan_in, at::Generator& gen) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  return at::empty(shape).uniform_(-bound, bound, gen);
}

at::Tensor layer_norm2d(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {  // SAM's LayerNorm2d
  at::Tensor u = x.mean(1, true);
  at::Tensor s = (x - u).pow(2).mean(1, true);
  return w.view({1, -1, 1, 1}) * ((x - u) / at::sqrt(s + 1e-6)) + b.view({1, -1, 1, 1});
}

}  // namespace

PseudoPrompts pseudo_prompts(const at::Tensor& corr, const EscOptions& o) {
  at::NoGradGuard no_grad;  // hard decisions: no gradient flows through the prompts
  const int64_t B = corr.size(0), T = corr.size(2), H = corr.size(3), W = corr.size(4), k = o.regions;
  at::Tensor prob = at::softmax(corr.mean(1) / o.temperature, 1);  // (B,T,H,W), over classes
  at::Tensor above = (prob > o.threshold).reshape({B * T, H * W}).cpu();
  at::Tensor p = prob.reshape({B * T, H * W}).cpu().contiguous();
  at::Tensor points = at::zeros({B * T, k, 2});
  at::Tensor labels = at::full({B * T, k}, -1, at::kLong);
  at::Tensor masks = above.to(at::kFloat).view({B * T, 1, H, W}).clone();
  auto pa = p.accessor<float, 2>();
  auto aa = above.accessor<bool, 2>();
  auto pts = points.accessor<float, 3>();
  auto lab = labels.accessor<int64_t, 2>();
  for (int64_t n = 0; n < B * T; ++n) {
    std::vector<int64_t> cells;
    for (int64_t i = 0; i < H * W; ++i)
      if (aa[n][i]) cells.push_back(i);
    if (cells.empty()) continue;
    const int64_t kk = std::min<int64_t>(k, static_cast<int64_t>(cells.size()));
    // Initial centres: the kk most probable cells (deterministic).
    std::vector<int64_t> order = cells;
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return pa[n][a] > pa[n][b]; });
    std::vector<double> cy(kk), cx(kk);
    for (int64_t c = 0; c < kk; ++c) cy[c] = order[c] / W, cx[c] = order[c] % W;
    std::vector<int64_t> assign(cells.size(), 0);
    for (int64_t it = 0; it < o.kmeans_iterations; ++it) {  // Lloyd's iterations on (y, x)
      for (size_t j = 0; j < cells.size(); ++j) {
        const double y = cells[j] / W, x = cells[j] % W;
        double best = 1e30;
        for (int64_t c = 0; c < kk; ++c) {
          const double d = (y - cy[c]) * (y - cy[c]) + (x - cx[c]) * (x - cx[c]);
          if (d < best) best = d, assign[j] = c;
        }
      }
      std::vector<double> sy(kk, 0), sx(kk, 0), cnt(kk, 0);
      for (size_t j = 0; j < cells.size(); ++j)
        sy[assign[j]] += cells[j] / W, sx[assign[j]] += cells[j] % W, cnt[assign[j]] += 1;
      for (int64_t c = 0; c < kk; ++c)
        if (cnt[c] > 0) cy[c] = sy[c] / cnt[c], cx[c] = sx[c] / cnt[c];
    }
    // A point per region: its most probable cell, at the cell's centre.
    for (int64_t c = 0; c < kk; ++c) {
      int64_t peak = -1;
      for (size_t j = 0; j < cells.size(); ++j)
        if (assign[j] == c && (peak < 0 || pa[n][cells[j]] > pa[n][peak])) peak = cells[j];
      if (peak < 0) continue;
      pts[n][c][0] = (static_cast<float>(peak % W) + 0.5f) / static_cast<float>(W);
      pts[n][c][1] = (static_cast<float>(peak / W) + 0.5f) / static_cast<float>(H);
      lab[n][c] = 1;
    }
  }
  const at::Device d = corr.device();
  return {points.to(d), labels.to(d), masks.to(d)};
}

SamPromptBlock::SamPromptBlock(int64_t hidden, int64_t dim, int64_t mlp_dim, int64_t mask_tokens, const EscOptions& o,
                               at::Generator& gen)
    : hidden_(hidden), dim_(dim), mask_tokens_(mask_tokens), o_(o) {
  if (dim % (2 * kHeads) != 0)
    throw std::invalid_argument("SAM width " + std::to_string(dim) +
                                " is not a multiple of 16 (8 heads, cross "
                                "attention at half width)");
  auto add = [&](const std::string& name, at::Tensor t) {
    index_[name] = tensors_.size();
    tensors_.emplace_back(name, std::move(t));
  };
  auto linear = [&](const std::string& name, int64_t in, int64_t out) {
    add(name + ".weight", uniform({out, in}, in, gen));
    add(name + ".bias", uniform({out}, in, gen));
  };
  auto norm = [&](const std::string& name, int64_t d) {
    add(name + ".weight", at::ones({d}));
    add(name + ".bias", at::zeros({d}));
  };
  // Ours (not SAM's): correlation width <-> SAM width.
  linear("in_proj", hidden, dim);
  linear("out_proj", dim, hidden);
  // SAM's prompt encoder (mask_in_chans 16, as every SAM) and decoder tokens.
  add("prompt_encoder.pe_layer.positional_encoding_gaussian_matrix", at::empty({2, dim / 2}).normal_(0, 1, gen));
  for (int i = 0; i < 4; ++i)
    add("prompt_encoder.point_embeddings." + std::to_string(i) + ".weight", at::empty({1, dim}).normal_(0, 1, gen));
  add("prompt_encoder.not_a_point_embed.weight", at::empty({1, dim}).normal_(0, 1, gen));
  add("prompt_encoder.no_mask_embed.weight", at::empty({1, dim}).normal_(0, 1, gen));
  add("prompt_encoder.mask_downscaling.0.weight", uniform({4, 1, 2, 2}, 4, gen));
  add("prompt_encoder.mask_downscaling.0.bias", uniform({4}, 4, gen));
  norm("prompt_encoder.mask_downscaling.1", 4);
  add("prompt_encoder.mask_downscaling.3.weight", uniform({16, 4, 2, 2}, 16, gen));
  add("prompt_encoder.mask_downscaling.3.bias", uniform({16}, 16, gen));
  norm("prompt_encoder.mask_downscaling.4", 16);
  add("prompt_encoder.mask_downscaling.6.weight", uniform({dim, 16, 1, 1}, 16, gen));
  add("prompt_encoder.mask_downscaling.6.bias", uniform({dim}, 16, gen));
  add("mask_decoder.iou_token.weight", at::empty({1, dim}).normal_(0, 1, gen));
  add("mask_decoder.mask_tokens.weight", at::empty({mask_tokens, dim}).normal_(0, 1, gen));
  for (int64_t l = 0; l < o.sam_layers; ++l) {
    const std::string p = "mask_decoder.transformer.layers." + std::to_string(l) + ".";
    for (const char* a : {"self_attn", "cross_attn_token_to_image", "cross_attn_image_to_token"}) {
      const int64_t inner = std::string(a) == "self_attn" ? dim : dim / 2;  // attention_downsample_rate 2
      for (const char* m : {"q_proj", "k_proj", "v_proj"}) linear(p + a + "." + m, dim, inner);
      linear(p + a + ".out_proj", inner, dim);
    }
    for (const char* n : {"norm1", "norm2", "norm3", "norm4"}) norm(p + n, dim);
    linear(p + "mlp.lin1", dim, mlp_dim);
    linear(p + "mlp.lin2", mlp_dim, dim);
  }
}

const at::Tensor& SamPromptBlock::w(const std::string& name) const { return tensors_[index_.at(name)].second; }

void SamPromptBlock::to(at::Device device) {
  for (auto& [n, t] : tensors_) t = t.to(device);
}

void SamPromptBlock::load_sam(const std::map<std::string, at::Tensor>& sd, const std::string& source) {
  at::NoGradGuard no_grad;
  for (auto& [name, t] : tensors_) {
    if (name == "in_proj.weight" || name == "in_proj.bias" || name == "out_proj.weight" || name == "out_proj.bias")
      continue;
    auto it = sd.find(name);
    if (it == sd.end())
      throw std::invalid_argument("SAM checkpoint '" + source + "' has no tensor '" + name +
                                  "' (sam_layers more than its decoder has?)");
    if (!it->second.sizes().equals(t.sizes()))
      throw std::invalid_argument("SAM checkpoint '" + source + "': '" + name + "' is " + shape_string(it->second) +
                                  ", the ESC block's is " + shape_string(t));
    t.copy_(it->second.to(t.scalar_type()));
  }
}

// PositionEmbeddingRandom._pe_encoding on coordinates in [0,1].
at::Tensor SamPromptBlock::pe_encoding(const at::Tensor& coords01) const {
  at::Tensor c = at::matmul(2 * coords01 - 1, w("prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"));
  c = c * (2 * M_PI);
  return at::cat({at::sin(c), at::cos(c)}, -1);
}

// SAM's Attention: separate heads, softmax(q k^T / sqrt(d)) v, out_proj.
at::Tensor SamPromptBlock::attention(const std::string& p, const at::Tensor& q, const at::Tensor& k,
                                     const at::Tensor& v) const {
  auto heads = [](const at::Tensor& x) {
    return x.view({x.size(0), x.size(1), kHeads, -1}).transpose(1, 2);  // B h N d
  };
  at::Tensor qh = heads(at::linear(q, w(p + ".q_proj.weight"), w(p + ".q_proj.bias")));
  at::Tensor kh = heads(at::linear(k, w(p + ".k_proj.weight"), w(p + ".k_proj.bias")));
  at::Tensor vh = heads(at::linear(v, w(p + ".v_proj.weight"), w(p + ".v_proj.bias")));
  at::Tensor a = at::softmax(at::matmul(qh, kh.transpose(-2, -1)) / std::sqrt(static_cast<double>(qh.size(-1))), -1);
  at::Tensor o = at::matmul(a, vh).transpose(1, 2).reshape({q.size(0), q.size(1), -1});
  return at::linear(o, w(p + ".out_proj.weight"), w(p + ".out_proj.bias"));
}

at::Tensor SamPromptBlock::forward(const at::Tensor& x, const PseudoPrompts& pr) const {
  const int64_t B = x.size(0), C = x.size(1), T = x.size(2), H = x.size(3), W = x.size(4), N = B * T;
  auto ln = [&](const at::Tensor& t, const std::string& n) {
    return at::layer_norm(t, {dim_}, w(n + ".weight"), w(n + ".bias"), 1e-5);
  };
  // The "image" side: each class's correlation embedding at SAM's width.
  at::Tensor img = at::linear(x.permute({0, 2, 3, 4, 1}).reshape({N, H * W, C}), w("in_proj.weight"),
                              w("in_proj.bias"));
  // Dense prompt: the regions' mask through mask_downscaling (input at 4x the
  // grid, as SAM's low-res masks are), or no_mask_embed.
  at::Tensor dense;
  if (o_.use_masks) {
    at::Tensor m = at::upsample_nearest2d(pr.masks, {4 * H, 4 * W});
    m = (2 * m - 1) * o_.mask_logit;
    at::Tensor d = at::conv2d(m, w("prompt_encoder.mask_downscaling.0.weight"),
                              w("prompt_encoder.mask_downscaling.0.bias"), {2, 2});
    d = at::gelu(
        layer_norm2d(d, w("prompt_encoder.mask_downscaling.1.weight"), w("prompt_encoder.mask_downscaling.1.bias")));
    d = at::conv2d(d, w("prompt_encoder.mask_downscaling.3.weight"), w("prompt_encoder.mask_downscaling.3.bias"),
                   {2, 2});
    d = at::gelu(
        layer_norm2d(d, w("prompt_encoder.mask_downscaling.4.weight"), w("prompt_encoder.mask_downscaling.4.bias")));
    d = at::conv2d(d, w("prompt_encoder.mask_downscaling.6.weight"), w("prompt_encoder.mask_downscaling.6.bias"));
    // Classes without a region get no mask (SAM's no_mask_embed).
    at::Tensor has = (pr.masks.flatten(1).amax(1) > 0).view({N, 1, 1, 1}).to(d.scalar_type());
    dense = has * d + (1 - has) * w("prompt_encoder.no_mask_embed.weight").view({1, dim_, 1, 1});
  } else {
    dense = w("prompt_encoder.no_mask_embed.weight").view({1, dim_, 1, 1}).expand({N, dim_, H, W});
  }
  at::Tensor keys = img + dense.flatten(2).transpose(1, 2);
  // Image positions: PositionEmbeddingRandom over the H x W grid.
  at::Tensor ys = (at::arange(H, x.options()) + 0.5) / H, xs = (at::arange(W, x.options()) + 0.5) / W;
  at::Tensor grid = at::stack({xs.view({1, W}).expand({H, W}), ys.view({H, 1}).expand({H, W})}, -1);
  at::Tensor key_pe = pe_encoding(grid).view({1, H * W, dim_});
  // Sparse prompts: the region peaks (label 1) plus SAM's padding point
  // (label -1: no box is given); classes without regions keep only
  // not-a-point tokens.
  std::vector<at::Tensor> tok = {w("mask_decoder.iou_token.weight"), w("mask_decoder.mask_tokens.weight")};
  at::Tensor queries = at::cat(tok, 0).unsqueeze(0).expand({N, 1 + mask_tokens_, dim_});
  if (o_.use_points) {
    at::Tensor pts = at::cat({pr.points, at::zeros({N, 1, 2}, pr.points.options())}, 1);
    at::Tensor lab = at::cat({pr.labels, at::full({N, 1}, -1, pr.labels.options())}, 1);
    at::Tensor pe = pe_encoding(pts);
    at::Tensor none = (lab == -1).unsqueeze(-1).to(pe.scalar_type());
    at::Tensor fg = (lab == 1).unsqueeze(-1).to(pe.scalar_type());
    at::Tensor sparse = pe * (1 - none) + none * w("prompt_encoder.not_a_point_embed.weight") +
                        fg * w("prompt_encoder.point_embeddings.1.weight");
    queries = at::cat({queries, sparse}, 1);
  }
  const at::Tensor query_pe = queries;
  at::Tensor q = queries;
  // TwoWayAttentionBlock x sam_layers (the first skips the query PE).
  for (int64_t l = 0; l < o_.sam_layers; ++l) {
    const std::string p = "mask_decoder.transformer.layers." + std::to_string(l) + ".";
    if (l == 0) {
      q = attention(p + "self_attn", q, q, q);
    } else {
      at::Tensor qq = q + query_pe;
      q = q + attention(p + "self_attn", qq, qq, q);
    }
    q = ln(q, p + "norm1");
    q = ln(q + attention(p + "cross_attn_token_to_image", q + query_pe, keys + key_pe, keys), p + "norm2");
    at::Tensor m = at::linear(at::relu(at::linear(q, w(p + "mlp.lin1.weight"), w(p + "mlp.lin1.bias"))),
                              w(p + "mlp.lin2.weight"), w(p + "mlp.lin2.bias"));
    q = ln(q + m, p + "norm3");
    keys = ln(keys + attention(p + "cross_attn_image_to_token", keys + key_pe, q + query_pe, q), p + "norm4");
  }
  at::Tensor out = at::linear(keys, w("out_proj.weight"), w("out_proj.bias"));  // (N, HW, C)
  return x + out.view({B, T, H, W, C}).permute({0, 4, 1, 2, 3});
}

}  // namespace ovseg::catseg
