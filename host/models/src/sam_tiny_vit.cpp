// MobileSAM's TinyViT image encoder, as mobile_sam/modeling/tiny_vit_sam.py
// (TinyViT, PatchEmbed, ConvLayer/MBConv, PatchMerging, BasicLayer,
// TinyViTBlock, Attention, Mlp, Conv2d_BN) in eval mode, with
// build_sam_vit_t's settings (exact GELU, LayerNorm eps 1e-5 in the blocks,
// the conv neck with LayerNorm2d eps 1e-6).
//
// Two facts the reference hard-codes rather than stores:
//  * PatchMerging uses stride 1 when its output width is 320, 448 or 576 and
//    2 otherwise; for every published TinyViT that is exactly the last merge,
//    and TinyViT's layer resolutions (and forward_features' view(B, 64, 64, C))
//    assume it. Here: SamOptions::tiny_vit_merge_strides, default 2,...,2,1.
//  * img_size = 1024 (SamOptions::tiny_vit_image_size).
// And one the reference gets subtly wrong: build_sam_vit_t calls .eval()
// before load_state_dict, which caches Attention.ab from the initial (zero)
// attention_biases; only another .eval() after loading (as MobileSAM's README
// does) makes the loaded biases count. We always use the loaded biases.
#include <cmath>

#include "sam_components.hpp"

namespace ovseg::models {
namespace sam {
namespace {

const std::string kPrefix = "image_encoder.";

int64_t conv_out(int64_t n, int64_t stride) { return (n + 2 - 3) / stride + 1; }  // 3x3, padding 1

struct MBConv {
  Conv2dBN conv1, conv2, conv3;
  at::Tensor operator()(const at::Tensor& x) const {
    at::Tensor h = gelu_exact(conv1(x));
    h = gelu_exact(conv2(h));
    h = conv3(h);
    return gelu_exact(h + x);  // x += shortcut; act3(x)
  }
};

struct PatchMerging {
  Conv2dBN conv1, conv2, conv3;
  // (B,C,H,W) in; tokens (B, h*w, C') out.
  at::Tensor operator()(const at::Tensor& x) const {
    at::Tensor h = gelu_exact(conv1(x));
    h = gelu_exact(conv2(h));
    return conv3(h).flatten(2).transpose(1, 2);
  }
};

struct AttnBlock {
  LayerNorm attn_norm, mlp_norm;
  Linear qkv, proj, fc1, fc2;
  at::Tensor attention_biases;  // (heads, window*window) parameter
  at::Tensor bias_idxs;         // (N, N) int64: the non-persistent attention_bias_idxs
  Conv2dBN local_conv;
  int64_t heads = 1, key_dim = 1, window = 1;

  at::Tensor attention(const at::Tensor& x) const {
    const int64_t B = x.size(0), N = x.size(1);
    const at::Tensor qkvs = qkv(attn_norm(x)).view({B, N, heads, -1});
    // Per head: q | k | v of key_dim each (attn_ratio 1).
    const auto parts = qkvs.split({key_dim, key_dim, key_dim}, 3);
    const at::Tensor q = parts[0].permute({0, 2, 1, 3}), k = parts[1].permute({0, 2, 1, 3}),
                     v = parts[2].permute({0, 2, 1, 3});
    const at::Tensor ab = attention_biases.index_select(1, bias_idxs.flatten()).view({heads, N, N});
    const double scale = std::pow(static_cast<double>(key_dim), -0.5);
    const at::Tensor attn = (at::matmul(q, k.transpose(-2, -1)) * scale + ab).softmax(-1);
    return proj(at::matmul(attn, v).transpose(1, 2).reshape({B, N, heads * key_dim}));
  }

  // TinyViTBlock.forward on tokens (B, H*W, C).
  at::Tensor operator()(const at::Tensor& x, int64_t H, int64_t W) const {
    const int64_t B = x.size(0), L = x.size(1), C = x.size(2), ws = window;
    at::Tensor h;
    if (H == ws && W == ws) {
      h = attention(x);
    } else {
      h = x.view({B, H, W, C});
      const int64_t pad_b = (ws - H % ws) % ws, pad_r = (ws - W % ws) % ws;
      const bool padding = pad_b > 0 || pad_r > 0;
      // Padding before the attention's LayerNorm: padded tokens enter as LN(0).
      if (padding) h = at::constant_pad_nd(h, {0, 0, 0, pad_r, 0, pad_b}, 0.0);
      const int64_t pH = H + pad_b, pW = W + pad_r, nH = pH / ws, nW = pW / ws;
      h = h.view({B, nH, ws, nW, ws, C}).transpose(2, 3).reshape({B * nH * nW, ws * ws, C});
      h = attention(h);
      h = h.view({B, nH, nW, ws, ws, C}).transpose(2, 3).reshape({B, pH, pW, C});
      if (padding) h = h.slice(1, 0, H).slice(2, 0, W).contiguous();
      h = h.view({B, L, C});
    }
    at::Tensor y = x + h;
    y = local_conv(y.transpose(1, 2).reshape({B, C, H, W})).view({B, C, L}).transpose(1, 2);
    return y + fc2(gelu_exact(fc1(mlp_norm(y))));
  }
};

// Attention.__init__: offsets (|dy|, |dx|) numbered in order of first
// appearance over itertools.product(points, points); for a square window
// that is |dy| * window + |dx|.
at::Tensor attention_bias_idxs(int64_t window) {
  const int64_t N = window * window;
  std::vector<int64_t> idx(static_cast<size_t>(N * N));
  for (int64_t a = 0; a < N; ++a)
    for (int64_t b = 0; b < N; ++b)
      idx[a * N + b] = std::abs(a / window - b / window) * window + std::abs(a % window - b % window);
  return at::tensor(idx, at::kLong).view({N, N});
}

class TinyViTEncoder final : public ImageEncoder {
 public:
  explicit TinyViTEncoder(const SamGeometry& g) : g_(g.tiny_vit), out_(g.embed_dim) {}

  void bind(TensorVisitor& v) override {
    const auto& w = g_.widths;
    const size_t stages = w.size();
    pe0_.bind(v, kPrefix + "patch_embed.seq.0.", 3, w[0] / 2, 3, 2, 1);
    pe2_.bind(v, kPrefix + "patch_embed.seq.2.", w[0] / 2, w[0], 3, 2, 1);
    mbconvs_.resize(static_cast<size_t>(g_.depths[0]));
    blocks_.resize(stages);  // resize, not assign: bind() also runs on a loaded model (save, move)
    merges_.resize(stages - 1);
    for (int64_t j = 0; j < g_.depths[0]; ++j) {
      const std::string p = kPrefix + "layers.0.blocks." + std::to_string(j) + ".";
      MBConv& m = mbconvs_[j];
      m.conv1.bind(v, p + "conv1.", w[0], g_.mbconv_hidden, 1);
      m.conv2.bind(v, p + "conv2.", g_.mbconv_hidden, g_.mbconv_hidden, 3, 1, 1, g_.mbconv_hidden);
      m.conv3.bind(v, p + "conv3.", g_.mbconv_hidden, w[0], 1);
    }
    for (size_t i = 1; i < stages; ++i) {
      blocks_[i].resize(static_cast<size_t>(g_.depths[i]));
      for (int64_t j = 0; j < g_.depths[i]; ++j) {
        const std::string p = kPrefix + "layers." + std::to_string(i) + ".blocks." + std::to_string(j) + ".";
        AttnBlock& b = blocks_[i][j];
        const int64_t C = w[i];
        b.heads = g_.heads[i];
        b.key_dim = C / b.heads;
        b.window = g_.windows[i];
        b.attn_norm.bind(v, p + "attn.norm.", C);
        b.qkv.bind(v, p + "attn.qkv.", C, 3 * C);
        b.proj.bind(v, p + "attn.proj.", C, C);
        v(p + "attn.attention_biases", b.attention_biases, {b.heads, b.window * b.window}, Role::Parameter);
        // Not a checkpoint tensor: derived, kept on the biases' device.
        b.bias_idxs = attention_bias_idxs(b.window);
        if (b.attention_biases.defined()) b.bias_idxs = b.bias_idxs.to(b.attention_biases.device());
        b.mlp_norm.bind(v, p + "mlp.norm.", C);
        b.fc1.bind(v, p + "mlp.fc1.", C, g_.mlp_dims[i]);
        b.fc2.bind(v, p + "mlp.fc2.", g_.mlp_dims[i], C);
        b.local_conv.bind(v, p + "local_conv.", C, C, g_.local_conv, 1, g_.local_conv / 2, C);
      }
    }
    for (size_t i = 0; i + 1 < stages; ++i) {
      const std::string p = kPrefix + "layers." + std::to_string(i) + ".downsample.";
      merges_[i].conv1.bind(v, p + "conv1.", w[i], w[i + 1], 1);
      merges_[i].conv2.bind(v, p + "conv2.", w[i + 1], w[i + 1], 3, g_.merge_strides[i], 1, w[i + 1]);
      merges_[i].conv3.bind(v, p + "conv3.", w[i + 1], w[i + 1], 1);
    }
    // The ImageNet classifier TinyViT keeps (unused by SAM; in the checkpoint).
    norm_head_.bind(v, kPrefix + "norm_head.", w.back());
    if (g_.classifier_classes > 0) head_.bind(v, kPrefix + "head.", w.back(), g_.classifier_classes);
    neck_.bind(v, kPrefix + "neck.", w.back(), out_);
  }

  at::Tensor forward(const at::Tensor& pixels, const std::vector<int64_t>& taps, std::vector<at::Tensor>* tap_outputs,
                     const SamBlockHook& hook) const override {
    const std::vector<int64_t> res = g_.stage_resolutions();
    std::vector<at::Tensor> tapped(taps.size());
    int64_t block_index = 0;
    auto tap = [&](const at::Tensor& chw) {
      for (size_t t = 0; t < taps.size(); ++t)
        if (taps[t] == block_index) tapped[t] = chw;
      ++block_index;
    };
    at::Tensor x = pe2_(gelu_exact(pe0_(pixels)));  // (B, w0, S/4, S/4)
    for (const auto& m : mbconvs_) {
      x = m(x);
      if (hook) {  // (B,C,H,W) <-> the hook's (B,H,W,C)
        const at::Tensor hwc = x.permute({0, 2, 3, 1});
        x = checked_hook_output(hook(block_index, hwc), hwc, block_index).permute({0, 3, 1, 2});
      }
      tap(x);
    }
    const int64_t B = x.size(0);
    x = merges_.empty() ? x.flatten(2).transpose(1, 2) : merges_[0](x);  // tokens from here on
    for (size_t i = 1; i < blocks_.size(); ++i) {
      const int64_t H = res[i], C = g_.widths[i];
      for (const auto& b : blocks_[i]) {
        x = b(x, H, H);
        if (hook) {  // (B,H*W,C) <-> the hook's (B,H,W,C)
          const at::Tensor hwc = x.view({B, H, H, C});
          x = checked_hook_output(hook(block_index, hwc), hwc, block_index).reshape({B, H * H, C});
        }
        if (!taps.empty())
          tap(x.transpose(1, 2).reshape({B, C, H, H}));
        else
          ++block_index;
      }
      if (i < merges_.size()) x = merges_[i](x.view({B, H, H, C}).permute({0, 3, 1, 2}));
    }
    if (tap_outputs) *tap_outputs = std::move(tapped);
    const int64_t g = g_.grid();
    x = x.view({B, g, g, x.size(2)}).permute({0, 3, 1, 2});
    return neck_(x);
  }

 private:
  SamTinyViTGeometry g_;
  int64_t out_;
  Conv2dBN pe0_, pe2_;
  std::vector<MBConv> mbconvs_;
  std::vector<std::vector<AttnBlock>> blocks_;  // [stage][block]; stage 0 empty
  std::vector<PatchMerging> merges_;
  LayerNorm norm_head_;
  Linear head_;
  Neck neck_;
};

}  // namespace

void infer_tiny_vit_geometry(const StateDict& sd, const std::string& source, const SamOptions& options,
                             SamGeometry& g) {
  SamTinyViTGeometry& t = g.tiny_vit;
  const int64_t stages = count_indexed(sd, kPrefix + "layers.", source);
  if (stages < 2) fail(source, "TinyViT encoder needs at least 2 stages ('" + kPrefix + "layers.0', '.1')");
  t.widths.assign(stages, 0);
  t.depths.assign(stages, 0);
  t.heads.assign(stages, 0);
  t.windows.assign(stages, 0);
  t.mlp_dims.assign(stages, 0);
  t.widths[0] = need_tensor(sd, kPrefix + "patch_embed.seq.2.c.weight", source, 4).size(0);
  for (int64_t i = 0; i < stages; ++i) {
    const std::string p = kPrefix + "layers." + std::to_string(i) + ".blocks.";
    t.depths[i] = count_indexed(sd, p, source);
    if (t.depths[i] == 0) fail(source, "missing tensors of '" + p + "0'");
    if (i == 0) {
      t.mbconv_hidden = need_tensor(sd, p + "0.conv1.c.weight", source, 4).size(0);
      continue;
    }
    t.widths[i] = need_tensor(sd, p + "0.attn.norm.weight", source, 1).size(0);
    const at::Tensor& ab = need_tensor(sd, p + "0.attn.attention_biases", source, 2);
    t.heads[i] = ab.size(0);
    t.windows[i] = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(ab.size(1)))));
    if (t.windows[i] * t.windows[i] != ab.size(1) || t.heads[i] <= 0 || t.widths[i] % t.heads[i] != 0)
      fail(source, "tensor '" + p + "0.attn.attention_biases' has shape " + shape_string(ab.sizes()) +
                       ": expected (heads dividing " + std::to_string(t.widths[i]) + ", window*window)");
    t.mlp_dims[i] = need_tensor(sd, p + "0.mlp.fc1.weight", source, 2).size(0);
    if (i == 1) t.local_conv = need_tensor(sd, p + "0.local_conv.c.weight", source, 4).size(-1);
  }
  auto it = sd.find(kPrefix + "head.weight");
  t.classifier_classes = it == sd.end() ? 0 : it->second.size(0);
  t.image_size = options.tiny_vit_image_size > 0 ? options.tiny_vit_image_size : kSamTinyViTImageSize;
  if (!options.tiny_vit_merge_strides.empty()) {
    if (static_cast<int64_t>(options.tiny_vit_merge_strides.size()) != stages - 1)
      fail(source, "TinyViT has " + std::to_string(stages - 1) + " patch merges but " +
                       std::to_string(options.tiny_vit_merge_strides.size()) + " merge strides were given");
    t.merge_strides = options.tiny_vit_merge_strides;
  } else {
    t.merge_strides.assign(static_cast<size_t>(stages - 1), 2);
    t.merge_strides.back() = 1;
  }
  g.image_size = t.image_size;
  g.embedding_grid = t.grid();
  g.embed_dim = need_tensor(sd, kPrefix + "neck.0.weight", source, 4).size(0);
}

std::unique_ptr<ImageEncoder> make_tiny_vit_encoder(const SamGeometry& g) {
  return std::make_unique<TinyViTEncoder>(g);
}

}  // namespace sam

std::vector<int64_t> SamTinyViTGeometry::stage_resolutions() const {
  std::vector<int64_t> res;
  int64_t r = sam::conv_out(sam::conv_out(image_size, 2), 2);  // PatchEmbed: two stride-2 3x3 convs
  for (size_t i = 0; i < widths.size(); ++i) {
    res.push_back(r);
    if (i < merge_strides.size()) r = sam::conv_out(r, merge_strides[i]);
  }
  return res;
}

int64_t SamTinyViTGeometry::grid() const {
  const auto res = stage_resolutions();
  return res.empty() ? 0 : res.back();
}

int64_t SamTinyViTGeometry::num_blocks() const {
  int64_t n = 0;
  for (int64_t d : depths) n += d;
  return n;
}

}  // namespace ovseg::models
