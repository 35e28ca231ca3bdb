#include "schnet_modules.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace ovseg::schnet {

at::Generator make_generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

Linear default_linear(int64_t in, int64_t out, at::Generator& gen) {
  // nn.Linear.reset_parameters: kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)); bias the same.
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  return {at::empty({out, in}).uniform_(-bound, bound, gen), at::empty({out}).uniform_(-bound, bound, gen)};
}

Linear zero_linear(int64_t in, int64_t out) { return {at::zeros({out, in}), at::zeros({out})}; }

LayerNorm unit_layer_norm(int64_t dim) { return {at::ones({dim}), at::zeros({dim})}; }

Fusion parse_fusion(const std::string& name) {
  if (name == "add") return Fusion::Add;
  if (name == "gated") return Fusion::Gated;
  if (name == "cross_attention") return Fusion::CrossAttention;
  throw std::invalid_argument("unknown SRM fusion '" + name + "' (add, gated, cross_attention)");
}

void SrmInjection::init(int64_t clip_width, int64_t sam_width, at::Generator& gen) {
  norm = unit_layer_norm(clip_width);
  switch (fusion) {
    case Fusion::Add: proj = zero_linear(clip_width, sam_width); break;
    case Fusion::Gated:
      proj = default_linear(clip_width, sam_width, gen);
      gate = at::zeros({sam_width});
      break;
    case Fusion::CrossAttention:
      q = default_linear(sam_width, sam_width, gen);
      k = default_linear(clip_width, sam_width, gen);
      v = default_linear(clip_width, sam_width, gen);
      out = zero_linear(sam_width, sam_width);
      break;
  }
}

at::Tensor SrmInjection::operator()(const at::Tensor& x, const at::Tensor& clip, int64_t valid_h,
                                    int64_t valid_w) const {
  const at::Tensor f = norm(clip);  // (B,hc,wc,Cc)
  if (fusion == Fusion::CrossAttention) {
    const int64_t B = x.size(0), h = x.size(1), w = x.size(2), C = x.size(3);
    const at::Tensor qs = q(x).reshape({B, h * w, C});
    const at::Tensor fs = f.reshape({B, -1, f.size(3)});
    const at::Tensor attn = at::softmax(at::matmul(qs, k(fs).transpose(1, 2)) / std::sqrt(static_cast<double>(C)), -1);
    return x + out(at::matmul(attn, v(fs))).reshape({B, h, w, C});
  }
  // Bilinear resize of the CLIP map onto the image's part of SAM's grid.
  at::Tensor m = at::upsample_bilinear2d(f.permute({0, 3, 1, 2}), {valid_h, valid_w}, /*align_corners=*/false);
  at::Tensor add = proj(m.permute({0, 2, 3, 1}));  // (B,vh,vw,C)
  if (fusion == Fusion::Gated) add = at::tanh(gate) * add;
  if (valid_h < x.size(1) || valid_w < x.size(2))
    add = at::constant_pad_nd(add, {0, 0, 0, x.size(2) - valid_w, 0, x.size(1) - valid_h}, 0.0);
  return x + add;
}

void SrmInjection::named(const std::string& p, std::vector<NamedParam>& out_list) {
  out_list.push_back({p + "norm.weight", &norm.weight});
  out_list.push_back({p + "norm.bias", &norm.bias});
  if (fusion == Fusion::CrossAttention) {
    for (auto [name, l] : {std::pair<const char*, Linear*>{"q", &q}, {"k", &k}, {"v", &v}, {"out", &out}}) {
      out_list.push_back({p + name + ".weight", &l->weight});
      out_list.push_back({p + name + ".bias", &l->bias});
    }
    return;
  }
  out_list.push_back({p + "proj.weight", &proj.weight});
  out_list.push_back({p + "proj.bias", &proj.bias});
  if (fusion == Fusion::Gated) out_list.push_back({p + "gate", &gate});
}

void Ftm::init(const std::vector<int64_t>& sam_blocks, int64_t m, int64_t width, at::Generator& gen) {
  blocks = sam_blocks;
  tokens.clear();
  // Rein: tokens drawn U(-val, val), val = sqrt(6 / (3 * patch^2 + C)); with
  // no patch size in the formula's spirit here, Xavier's sqrt(6 / (m + C)).
  const double val = std::sqrt(6.0 / static_cast<double>(m + width));
  for (size_t i = 0; i < blocks.size(); ++i) tokens.push_back(at::empty({m, width}).uniform_(-val, val, gen));
  mlp_token = default_linear(width, width, gen);
  mlp_delta = zero_linear(width, width);
}

at::Tensor Ftm::operator()(size_t index, const at::Tensor& x) const {
  const at::Tensor& T = tokens[index];
  const double scale = 1.0 / std::sqrt(static_cast<double>(x.size(3)));
  const at::Tensor s = at::softmax(at::matmul(x, T.t()) * scale, -1);  // (B,h,w,m)
  const at::Tensor delta = at::matmul(s, mlp_token(T));                // (B,h,w,C)
  return x + mlp_delta(delta + x);
}

void Ftm::named(const std::string& p, std::vector<NamedParam>& out) {
  for (size_t i = 0; i < blocks.size(); ++i) out.push_back({p + "tokens." + std::to_string(blocks[i]), &tokens[i]});
  out.push_back({p + "mlp_token.weight", &mlp_token.weight});
  out.push_back({p + "mlp_token.bias", &mlp_token.bias});
  out.push_back({p + "mlp_delta.weight", &mlp_delta.weight});
  out.push_back({p + "mlp_delta.bias", &mlp_delta.bias});
}

void Decoder::init(int64_t in, int64_t mid, int64_t out, int64_t classes_or_dim, bool text_classifier,
                   at::Generator& gen) {
  text = text_classifier;
  // nn.ConvTranspose2d's default: U(-1/sqrt(fan_in), ..) with fan_in = out_channels * k * k (its weight is (in, out, k, k)).
  auto convt = [&](int64_t i, int64_t o, at::Tensor& w, at::Tensor& b) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(o * 4));
    w = at::empty({i, o, 2, 2}).uniform_(-bound, bound, gen);
    b = at::empty({o}).uniform_(-bound, bound, gen);
  };
  convt(in, mid, up0_w, up0_b);
  norm_w = at::ones({mid});
  norm_b = at::zeros({mid});
  convt(mid, out, up1_w, up1_b);
  const double bound = 1.0 / std::sqrt(static_cast<double>(out));
  cls_w = at::empty({classes_or_dim, out, 1, 1}).uniform_(-bound, bound, gen);
  cls_b = at::zeros({classes_or_dim});
}

void Decoder::init_detail(int64_t channels, int64_t stride, at::Generator& gen) {
  // nn.Conv2d's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in_channels * k * k.
  auto conv = [&](int64_t i, int64_t o, int64_t k, at::Tensor& w, at::Tensor& b) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(i * k * k));
    w = at::empty({o, i, k, k}).uniform_(-bound, bound, gen);
    b = at::empty({o}).uniform_(-bound, bound, gen);
  };
  const int64_t out = up1_w.size(1);
  conv(3, channels, 2 * stride + 1, detail_w, detail_b);
  conv(out + channels, out, 3, fuse_w, fuse_b);
}

at::Tensor Decoder::operator()(const at::Tensor& neck, const at::Tensor& text_embeddings,
                               const at::Tensor& pixels) const {
  at::Tensor x = at::conv_transpose2d(neck, up0_w, up0_b, /*stride=*/2);
  // LayerNorm2d (segment_anything common.py): over channels, eps 1e-6.
  const at::Tensor u = x.mean(1, true), s = (x - u).pow(2).mean(1, true);
  x = (x - u) / at::sqrt(s + 1e-6);
  x = norm_w.view({1, -1, 1, 1}) * x + norm_b.view({1, -1, 1, 1});
  x = at::gelu(x);
  x = at::gelu(at::conv_transpose2d(x, up1_w, up1_b, /*stride=*/2));
  if (has_detail()) {
    // Kernel 2r+1, padding r, stride r: an S-pixel input gives S / r = 4g, the upscaled grid.
    const int64_t r = (detail_w.size(2) - 1) / 2;
    const at::Tensor d = at::gelu(at::conv2d(pixels, detail_w, detail_b, /*stride=*/r, /*padding=*/r));
    if (d.size(2) != x.size(2) || d.size(3) != x.size(3))
      throw std::invalid_argument("schnet decoder: detail features " + std::to_string(d.size(2)) + "x" +
                                  std::to_string(d.size(3)) + " do not match the upscaled grid " +
                                  std::to_string(x.size(2)) + "x" + std::to_string(x.size(3)));
    x = at::gelu(at::conv2d(at::cat({x, d}, 1), fuse_w, fuse_b, /*stride=*/1, /*padding=*/1));
  }
  at::Tensor y = at::conv2d(x, cls_w, cls_b);
  if (!text) return y;
  const at::Tensor e = y / y.norm(2, 1, true).clamp_min(1e-12);
  const at::Tensor t = text_embeddings / text_embeddings.norm(2, 1, true).clamp_min(1e-12);
  return logit_scale * at::einsum("bdhw,kd->bkhw", {e, t});
}

void Decoder::named(const std::string& p, std::vector<NamedParam>& out) {
  out.push_back({p + "up0.weight", &up0_w});
  out.push_back({p + "up0.bias", &up0_b});
  out.push_back({p + "norm.weight", &norm_w});
  out.push_back({p + "norm.bias", &norm_b});
  out.push_back({p + "up1.weight", &up1_w});
  out.push_back({p + "up1.bias", &up1_b});
  out.push_back({p + "classifier.weight", &cls_w});
  out.push_back({p + "classifier.bias", &cls_b});
  if (!has_detail()) return;
  out.push_back({p + "detail.weight", &detail_w});
  out.push_back({p + "detail.bias", &detail_b});
  out.push_back({p + "fuse.weight", &fuse_w});
  out.push_back({p + "fuse.bias", &fuse_b});
}

at::Tensor unflip_logits(const at::Tensor& logits, const std::vector<std::pair<int64_t, int64_t>>& pairs) {
  const at::Tensor back = logits.flip({3});
  if (pairs.empty()) return back;
  std::vector<int64_t> order(static_cast<size_t>(logits.size(1)));
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  for (const auto& [a, b] : pairs) std::swap(order[a], order[b]);
  return back.index_select(1, at::tensor(order, at::kLong).to(logits.device()));
}

}  // namespace ovseg::schnet
