#include "catseg_aggregator.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <ATen/ATen.h>

namespace ovseg::catseg {

namespace {

// nn.Linear / nn.Conv2d / nn.ConvTranspose2d reset_parameters():
// kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
// the weight, and the bias draws from the same bound.
at::Tensor uniform(std::vector<int64_t> shape, int64_t fan_in, at::Generator& gen) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  return at::empty(shape).uniform_(-bound, bound, gen);
}

at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return at::layer_norm(x, {w.size(0)}, w, b, 1e-5);
}

}  // namespace

Aggregator::Aggregator(const AggregatorConfig& c, at::Generator& gen) : cfg_(c) {
  if (c.hidden_dim % c.nheads != 0)
    throw std::invalid_argument("hidden_dim " + std::to_string(c.hidden_dim) + " is not a multiple of num_heads " +
                                std::to_string(c.nheads));
  if (c.decoder_dims.size() != 2 || c.decoder_guidance_dims.size() != 2 || c.decoder_guidance_proj_dims.size() != 2)
    throw std::invalid_argument(
        "decoder_dims, decoder_guidance_dims and decoder_guidance_proj_dims take 2 values each");
  for (int64_t d : c.decoder_dims)
    if (d < 16 || d % (d / 16) != 0)
      throw std::invalid_argument("decoder_dims must be >= 16 (GroupNorm(dim // 16, dim)); got " + std::to_string(d));
  if (c.appearance_guidance_dim <= 0 || c.text_guidance_dim <= 0 || c.decoder_guidance_dims[0] <= 0)
    throw std::invalid_argument("CAT-Seg's guidance dims must be positive (the authors' decoder needs them)");
  // SwinTransformerBlock: a window at least the grid becomes the grid, unshifted.
  window_ = c.window_size;
  shift_ = c.window_size / 2;
  if (c.feature_resolution <= window_) {
    window_ = c.feature_resolution;
    shift_ = 0;
  }
  if (c.feature_resolution % window_ != 0)
    throw std::invalid_argument("the " + std::to_string(c.feature_resolution) + "x" +
                                std::to_string(c.feature_resolution) + " patch grid is not a whole number of " +
                                std::to_string(window_) + "-wide Swin windows (set window_size)");

  auto add = [&](const std::string& name, at::Tensor t) {
    index_[name] = tensors_.size();
    tensors_.emplace_back(name, std::move(t));
  };
  auto linear = [&](const std::string& name, int64_t in, int64_t out) {
    add(name + ".weight", uniform({out, in}, in, gen));
    add(name + ".bias", uniform({out}, in, gen));
  };
  auto conv = [&](const std::string& name, int64_t in, int64_t out, int64_t k, bool bias) {
    add(name + ".weight", uniform({out, in, k, k}, in * k * k, gen));
    if (bias) add(name + ".bias", uniform({out}, in * k * k, gen));
  };
  auto conv_t = [&](const std::string& name, int64_t in, int64_t out, int64_t k) {
    add(name + ".weight", uniform({in, out, k, k}, out * k * k, gen));  // fan_in from dim 1
    add(name + ".bias", uniform({out}, out * k * k, gen));
  };
  auto norm = [&](const std::string& name, int64_t d) {
    add(name + ".weight", at::ones({d}));
    add(name + ".bias", at::zeros({d}));
  };

  const int64_t C = c.hidden_dim, Ca = c.appearance_guidance_proj_dim, Ct = c.text_guidance_proj_dim;
  // Module registration order of the authors' Aggregator: layers, conv1,
  // guidance projections, decoder1, decoder2, head.
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    for (const char* b : {"block_1", "block_2"}) {
      const std::string s = p + "swin_block." + b + ".";
      norm(s + "norm1", C);
      linear(s + "attn.q", C + Ca, C);
      linear(s + "attn.k", C + Ca, C);
      linear(s + "attn.v", C, C);
      linear(s + "attn.proj", C, C);
      norm(s + "norm2", C);
      linear(s + "mlp.fc1", C, 4 * C);
      linear(s + "mlp.fc2", 4 * C, C);
    }
    norm(p + "swin_block.guidance_norm", Ca);
    const std::string a = p + "attention.";
    if (c.pad_len > 0) {
      add(a + "padding_tokens", at::zeros({1, 1, C}));
      add(a + "padding_guidance", at::zeros({1, 1, Ct}));
    }
    linear(a + "attention.q", C + Ct, C);
    linear(a + "attention.k", C + Ct, C);
    linear(a + "attention.v", C, C);
    linear(a + "MLP.0", C, 4 * C);
    linear(a + "MLP.2", 4 * C, C);
    norm(a + "norm1", C);
    norm(a + "norm2", C);
  }
  conv("conv1", c.prompt_channel, C, 7, true);
  conv("guidance_projection.0", c.appearance_guidance_dim, Ca, 3, true);
  linear("text_guidance_projection.0", c.text_guidance_dim, Ct);
  for (int i = 0; i < 2; ++i)
    conv("decoder_guidance_projection." + std::to_string(i) + ".0", c.decoder_guidance_dims[i],
         c.decoder_guidance_proj_dims[i], 3, true);
  const int64_t ins[2] = {C, c.decoder_dims[0]};
  for (int i = 0; i < 2; ++i) {
    const std::string d = "decoder" + std::to_string(i + 1) + ".";
    const int64_t in = ins[i], out = c.decoder_dims[i], g = c.decoder_guidance_proj_dims[i];
    if (in - g <= 0)
      throw std::invalid_argument("decoder stage " + std::to_string(i + 1) + ": " + std::to_string(in) +
                                  " channels cannot hold " + std::to_string(g) + " guidance channels");
    conv_t(d + "up", in, in - g, 2);
    conv(d + "conv.double_conv.0", in, out, 3, false);
    norm(d + "conv.double_conv.1", out);
    conv(d + "conv.double_conv.3", out, out, 3, false);
    norm(d + "conv.double_conv.4", out);
  }
  conv("head", c.decoder_dims[1], 1, 3, true);

  if (shift_ > 0) {
    // SwinTransformerBlock's attn_mask for SW-MSA on the fixed grid.
    const int64_t H = c.feature_resolution, ws = window_, s = shift_;
    at::Tensor img = at::zeros({H, H});
    const int64_t bounds[4] = {0, H - ws, H - s, H};
    float cnt = 0;
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b, ++cnt)
        img.slice(0, bounds[a], bounds[a + 1]).slice(1, bounds[b], bounds[b + 1]).fill_(cnt);
    at::Tensor mw = img.view({H / ws, ws, H / ws, ws}).permute({0, 2, 1, 3}).reshape({-1, ws * ws});
    at::Tensor m = mw.unsqueeze(1) - mw.unsqueeze(2);
    m = at::where(m != 0, at::full({}, -100.0f), at::zeros({}));
    for (int64_t i = 0; i < c.num_layers; ++i)
      masks_["layers." + std::to_string(i) + ".swin_block.block_2.attn_mask"] = m;
  }
}

const at::Tensor& Aggregator::w(const std::string& name) const { return tensors_[index_.at(name)].second; }

void Aggregator::to(at::Device device) {
  for (auto& [n, t] : tensors_) t = t.to(device);
  for (auto& [n, t] : masks_) t = t.to(device);
}

// SwinTransformerBlock.forward on x (BT, HW, C) with the normed guidance (BT, HW, Ca).
at::Tensor Aggregator::swin_block(const std::string& p, const at::Tensor& x, const at::Tensor& guidance,
                                  int64_t shift) const {
  const int64_t BT = x.size(0), C = x.size(2), H = cfg_.feature_resolution, ws = window_, heads = cfg_.nheads;
  const int64_t nw = H / ws, N = ws * ws;
  at::Tensor h = layer_norm(x, w(p + "norm1.weight"), w(p + "norm1.bias")).view({BT, H, H, C});
  h = at::cat({h, guidance.view({BT, H, H, -1})}, -1);
  const int64_t Cx = h.size(3);
  if (shift > 0) h = at::roll(h, {-shift, -shift}, {1, 2});
  // window_partition: (BT*nw*nw, N, Cx)
  at::Tensor win = h.view({BT, nw, ws, nw, ws, Cx}).permute({0, 1, 3, 2, 4, 5}).reshape({-1, N, Cx});
  const int64_t BW = win.size(0), hd = C / heads;
  auto split = [&](const at::Tensor& t) { return t.reshape({BW, N, heads, -1}).permute({0, 2, 1, 3}); };
  at::Tensor q = split(at::linear(win, w(p + "attn.q.weight"), w(p + "attn.q.bias")));
  at::Tensor k = split(at::linear(win, w(p + "attn.k.weight"), w(p + "attn.k.bias")));
  at::Tensor v = split(at::linear(win.narrow(2, 0, C), w(p + "attn.v.weight"), w(p + "attn.v.bias")));
  q = q * std::pow(static_cast<double>(hd), -0.5);
  at::Tensor attn = at::matmul(q, k.transpose(-2, -1));
  if (shift > 0) {
    const at::Tensor& mask = masks_.at(p + "attn_mask");  // (nw*nw, N, N)
    const int64_t nW = mask.size(0);
    attn = (attn.view({BW / nW, nW, heads, N, N}) + mask.unsqueeze(1).unsqueeze(0)).view({-1, heads, N, N});
  }
  attn = at::softmax(attn, -1);
  at::Tensor o = at::matmul(attn, v).transpose(1, 2).reshape({BW, N, -1});
  o = at::linear(o, w(p + "attn.proj.weight"), w(p + "attn.proj.bias"));
  // window_reverse, reverse shift
  o = o.view({BT, nw, nw, ws, ws, C}).permute({0, 1, 3, 2, 4, 5}).reshape({BT, H, H, C});
  if (shift > 0) o = at::roll(o, {shift, shift}, {1, 2});
  at::Tensor y = x + o.reshape({BT, H * H, C});
  at::Tensor m = layer_norm(y, w(p + "norm2.weight"), w(p + "norm2.bias"));
  m = at::linear(at::gelu(at::linear(m, w(p + "mlp.fc1.weight"), w(p + "mlp.fc1.bias"))), w(p + "mlp.fc2.weight"),
                 w(p + "mlp.fc2.bias"));
  return y + m;
}

// SwinTransformerBlockWrapper.forward: x (B,C,T,H,W), guidance (B,Ca,H,W).
at::Tensor Aggregator::swin_wrapper(const std::string& p, const at::Tensor& x, const at::Tensor& guidance) const {
  const int64_t B = x.size(0), C = x.size(1), T = x.size(2), H = x.size(3), W = x.size(4);
  at::Tensor h = x.permute({0, 2, 3, 4, 1}).reshape({B * T, H * W, C});
  // repeat 'B C H W -> (B T) (H W) C', then guidance_norm
  at::Tensor g = guidance.flatten(2).transpose(1, 2).unsqueeze(1).expand({B, T, H * W, guidance.size(1)});
  g = layer_norm(g.reshape({B * T, H * W, -1}), w(p + "guidance_norm.weight"), w(p + "guidance_norm.bias"));
  h = swin_block(p + "block_1.", h, g, 0);
  h = swin_block(p + "block_2.", h, g, shift_);
  return h.view({B, T, H, W, C}).permute({0, 4, 1, 2, 3});
}

// ClassTransformerLayer.forward: x (B,C,T,H,W), guidance (B,T,Ct).
at::Tensor Aggregator::class_layer(const std::string& p, const at::Tensor& x, const at::Tensor& guidance,
                                   int64_t pooling) const {
  const int64_t B = x.size(0), C = x.size(1), T = x.size(2), H = x.size(3), W = x.size(4);
  at::Tensor xp = x.permute({0, 2, 1, 3, 4}).reshape({B * T, C, H, W});
  if (pooling > 1) xp = at::avg_pool2d(xp, {pooling, pooling});
  const int64_t Hp = xp.size(2), Wp = xp.size(3);
  xp = xp.view({B, T, C, Hp, Wp});
  at::Tensor g = guidance;
  const bool pad = cfg_.pad_len > 0 && T < cfg_.pad_len;
  if (pad) {
    xp = at::cat({xp, w(p + "padding_tokens").view({1, 1, C, 1, 1}).expand({B, cfg_.pad_len - T, C, Hp, Wp})}, 1);
    g = at::cat({g, w(p + "padding_guidance").expand({B, cfg_.pad_len - T, g.size(2)})}, 1);
  }
  const int64_t Tp = xp.size(1);
  // 'B C T H W -> (B H W) T C'
  at::Tensor seq = xp.permute({0, 3, 4, 1, 2}).reshape({B * Hp * Wp, Tp, C});
  g = g.unsqueeze(1).expand({B, Hp * Wp, Tp, g.size(2)}).reshape({B * Hp * Wp, Tp, -1});

  // AttentionLayer with LinearAttention ("Transformers are RNNs").
  const std::string a = p + "attention.";
  at::Tensor n1 = layer_norm(seq, w(p + "norm1.weight"), w(p + "norm1.bias"));
  at::Tensor ng = at::cat({n1, g}, -1);
  const int64_t heads = cfg_.nheads, Nq = seq.size(0);
  auto split = [&](const at::Tensor& t) { return t.view({Nq, Tp, heads, -1}).permute({0, 2, 1, 3}); };  // N H L D
  at::Tensor Q = at::elu(split(at::linear(ng, w(a + "q.weight"), w(a + "q.bias")))) + 1;
  at::Tensor K = at::elu(split(at::linear(ng, w(a + "k.weight"), w(a + "k.bias")))) + 1;
  at::Tensor V = split(at::linear(n1, w(a + "v.weight"), w(a + "v.bias")));
  const double S = static_cast<double>(Tp);
  at::Tensor KV = at::matmul(K.transpose(-2, -1), V / S);                                   // N H D V
  at::Tensor Z = 1.0 / (at::matmul(Q, K.sum(2).unsqueeze(-1)) + 1e-6);                      // N H L 1
  at::Tensor att = (at::matmul(Q, KV) * Z * S).permute({0, 2, 1, 3}).reshape({Nq, Tp, C});  // N L (H V)
  seq = seq + att;
  at::Tensor m = layer_norm(seq, w(p + "norm2.weight"), w(p + "norm2.bias"));
  m = at::linear(at::relu(at::linear(m, w(p + "MLP.0.weight"), w(p + "MLP.0.bias"))), w(p + "MLP.2.weight"),
                 w(p + "MLP.2.bias"));
  seq = seq + m;

  // '(B H W) T C -> (B T) C H W', bilinear (align_corners) back to H x W
  at::Tensor up = seq.view({B, Hp, Wp, Tp, C}).permute({0, 3, 4, 1, 2}).reshape({B * Tp, C, Hp, Wp});
  up = at::upsample_bilinear2d(up, {H, W}, /*align_corners=*/true).view({B, Tp, C, H, W});
  if (pad) up = up.narrow(1, 0, T);
  return x + up.permute({0, 2, 1, 3, 4});
}

// Up.forward on x (BT, Cin, h, w) with the projected guidance (B, Cg, 2h, 2w).
at::Tensor Aggregator::up(const std::string& p, const at::Tensor& x, const at::Tensor& guidance) const {
  at::Tensor h = at::conv_transpose2d(x, w(p + "up.weight"), w(p + "up.bias"), {2, 2});
  const int64_t B = guidance.size(0), T = h.size(0) / B;
  at::Tensor g = guidance.unsqueeze(1).expand({B, T, guidance.size(1), guidance.size(2), guidance.size(3)});
  h = at::cat({h, g.reshape({B * T, guidance.size(1), guidance.size(2), guidance.size(3)})}, 1);
  const std::string d = p + "conv.double_conv.";
  for (const char* i : {"0", "3"}) {
    const std::string n = std::string(i) == "0" ? "1" : "4";
    h = at::conv2d(h, w(d + i + ".weight"), {}, {1, 1}, {1, 1});
    const int64_t ch = h.size(1);
    h = at::relu(at::group_norm(h, ch / 16, w(d + n + ".weight"), w(d + n + ".bias"), 1e-5));
  }
  return h;
}

at::Tensor Aggregator::per_class_chunks(const at::Tensor& x, int64_t dim, int64_t out_dim, int64_t chunk,
                                        const std::function<at::Tensor(const at::Tensor&, int64_t, int64_t)>& f) {
  const int64_t T = x.size(dim);
  if (chunk <= 0 || chunk >= T) return f(x, 0, T);
  std::vector<at::Tensor> parts;
  for (int64_t t0 = 0; t0 < T; t0 += chunk) {
    const int64_t n = std::min(chunk, T - t0);
    parts.push_back(f(x.narrow(dim, t0, n), t0, n));
  }
  return at::cat(parts, out_dim);
}

// conv_decoder on x (B,C,T,H,W): (B,T,4H,4W) logits.
at::Tensor Aggregator::decode(const at::Tensor& x, const std::vector<at::Tensor>& dec) const {
  const int64_t B = x.size(0), T = x.size(2);
  at::Tensor h = x.permute({0, 2, 1, 3, 4}).reshape({B * T, x.size(1), x.size(3), x.size(4)});
  h = up("decoder1.", h, dec[0]);
  h = up("decoder2.", h, dec[1]);
  h = at::conv2d(h, w("head.weight"), w("head.bias"), {1, 1}, {1, 1});
  return h.view({B, T, h.size(2), h.size(3)});
}

at::Tensor Aggregator::forward(const at::Tensor& img_feats, const at::Tensor& text_feats,
                               const std::vector<at::Tensor>& guidance, int64_t pooling, const LayerHook& hook) const {
  const int64_t B = img_feats.size(0), H = img_feats.size(2), W = img_feats.size(3);
  if (H != cfg_.feature_resolution || W != cfg_.feature_resolution)
    throw std::invalid_argument("CAT-Seg aggregator: features are " + std::to_string(H) + "x" + std::to_string(W) +
                                ", the Swin blocks are built for " + std::to_string(cfg_.feature_resolution) + "x" +
                                std::to_string(cfg_.feature_resolution));
  if (guidance.size() != 3)
    throw std::invalid_argument("CAT-Seg aggregator: 3 guidance maps (res3, res4, res5) expected");
  at::Tensor text = text_feats;
  const int64_t T0 = text.size(1);
  at::Tensor img_n = img_feats / img_feats.norm(2, 1, true).clamp_min(1e-12);  // F.normalize(dim=1)
  auto correlation = [&](const at::Tensor& t) {                                // einsum('bchw, btpc -> bpthw')
    at::Tensor tn = t / t.norm(2, -1, true).clamp_min(1e-12);
    const int64_t T = tn.size(1), P = tn.size(2), C = tn.size(3);
    at::Tensor c = at::matmul(tn.reshape({B, T * P, C}), img_n.flatten(2));  // (B, T*P, HW)
    return c.view({B, T, P, H, W}).permute({0, 2, 1, 3, 4});
  };
  at::Tensor corr = correlation(text);
  at::Tensor classes;
  if (cfg_.pad_len > 0 && T0 > cfg_.pad_len) {
    // Keep the pad_len classes with the highest correlation anywhere (max
    // over templates and pixels); the rest score -100.
    at::Tensor best = corr.permute({0, 2, 1, 3, 4}).flatten(2).amax(-1);  // (B, T)
    classes = std::get<1>(best.topk(cfg_.pad_len, -1, /*largest=*/true, /*sorted=*/false));
    at::Tensor tn = text / text.norm(2, -1, true).clamp_min(1e-12);
    text = at::gather(tn, 1, classes.view({B, -1, 1, 1}).expand({B, cfg_.pad_len, tn.size(2), tn.size(3)}));
    corr = correlation(text);
  }
  const int64_t T = text.size(1), P = text.size(2);
  // corr_embed: conv1 on (B T) P H W
  at::Tensor x = at::conv2d(corr.permute({0, 2, 1, 3, 4}).reshape({B * T, P, H, W}), w("conv1.weight"), w("conv1.bias"),
                            {1, 1}, {3, 3});
  x = x.view({B, T, -1, H, W}).permute({0, 2, 1, 3, 4});  // B C T H W

  at::Tensor app = at::relu(
      at::conv2d(guidance[0], w("guidance_projection.0.weight"), w("guidance_projection.0.bias"), {1, 1}, {1, 1}));
  std::vector<at::Tensor> dec;
  for (int i = 0; i < 2; ++i) {
    const std::string n = "decoder_guidance_projection." + std::to_string(i) + ".0.";
    dec.push_back(at::relu(at::conv2d(guidance[i + 1], w(n + "weight"), w(n + "bias"), {1, 1}, {1, 1})));
  }
  at::Tensor tg = text.mean(-2);
  tg = tg / tg.norm(2, -1, true);
  tg = at::relu(at::linear(tg, w("text_guidance_projection.0.weight"), w("text_guidance_projection.0.bias")));

  for (int64_t i = 0; i < cfg_.num_layers; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    if (hook) x = hook(i, x, corr);
    // Per class (Swin blocks see one class's H x W map), so chunks of
    // classes give the same result.
    x = per_class_chunks(x, 2, 2, cfg_.class_chunk, [&](const at::Tensor& xc, int64_t, int64_t) {
      return swin_wrapper(p + "swin_block.", xc, app);
    });
    x = class_layer(p + "attention.", x, tg, pooling);
  }
  // conv_decoder, per class too
  at::Tensor logit = per_class_chunks(x, 2, 1, cfg_.class_chunk,
                                      [&](const at::Tensor& xc, int64_t, int64_t) { return decode(xc, dec); });
  if (classes.defined()) {
    at::Tensor out = at::full({B, T0, logit.size(2), logit.size(3)}, -100.0f, logit.options());
    out = out.scatter(1, classes.view({B, -1, 1, 1}).expand({B, T, logit.size(2), logit.size(3)}), logit);
    logit = out;
  }
  return logit;
}

}  // namespace ovseg::catseg
