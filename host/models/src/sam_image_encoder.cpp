// SAM's ViT image encoder, as segment_anything/modeling/image_encoder.py
// (ImageEncoderViT, Block, Attention, window_partition, window_unpartition,
// get_rel_pos, add_decomposed_rel_pos, PatchEmbed) with build_sam.py's
// settings: LayerNorm eps 1e-6, exact GELU, qkv bias, relative positions,
// absolute positions, the conv neck with LayerNorm2d.
#include <algorithm>
#include <cmath>

#include "sam_components.hpp"

namespace ovseg::models::sam {
namespace {

const std::string kPrefix = "image_encoder.";

struct Block {
  LayerNorm norm1, norm2;
  Linear qkv, proj, lin1, lin2;
  at::Tensor rel_pos_h, rel_pos_w;  // (2*size-1, head_dim); undefined without relative positions
  int64_t heads = 1;
  int64_t window = 0;  // 0: global attention
};

// get_rel_pos: the (q_size, k_size, head_dim) table of relative positions,
// linearly resampled when its length is not 2*max(q,k)-1.
at::Tensor get_rel_pos(int64_t q_size, int64_t k_size, const at::Tensor& rel_pos) {
  const int64_t max_rel_dist = 2 * std::max(q_size, k_size) - 1;
  at::Tensor resized = rel_pos;
  if (rel_pos.size(0) != max_rel_dist) {
    // F.interpolate(rel_pos.reshape(1, L, -1).permute(0, 2, 1), size, mode="linear")
    at::Tensor r = at::upsample_linear1d(rel_pos.reshape({1, rel_pos.size(0), -1}).permute({0, 2, 1}), {max_rel_dist},
                                         /*align_corners=*/false);
    resized = r.reshape({-1, max_rel_dist}).permute({1, 0});
  }
  // Same dtype path as the reference: int64 aranges times Python floats are float32.
  const double qk = std::max(static_cast<double>(k_size) / q_size, 1.0);
  const double kq = std::max(static_cast<double>(q_size) / k_size, 1.0);
  const auto opts = at::TensorOptions().dtype(at::kLong).device(rel_pos.device());
  const at::Tensor q_coords = at::arange(q_size, opts).unsqueeze(1) * qk;
  const at::Tensor k_coords = at::arange(k_size, opts).unsqueeze(0) * kq;
  const at::Tensor relative = (q_coords - k_coords) + (k_size - 1) * kq;
  return resized.index_select(0, relative.to(at::kLong).flatten()).view({q_size, k_size, -1});
}

// add_decomposed_rel_pos (MViTv2): attention logits plus the query's
// projections on the row and column relative-position tables.
at::Tensor add_decomposed_rel_pos(const at::Tensor& attn, const at::Tensor& q, const Block& b, int64_t h, int64_t w) {
  const at::Tensor Rh = get_rel_pos(h, h, b.rel_pos_h);
  const at::Tensor Rw = get_rel_pos(w, w, b.rel_pos_w);
  const int64_t B = q.size(0), dim = q.size(2);
  const at::Tensor r_q = q.reshape({B, h, w, dim});
  const at::Tensor rel_h = at::einsum("bhwc,hkc->bhwk", {r_q, Rh});
  const at::Tensor rel_w = at::einsum("bhwc,wkc->bhwk", {r_q, Rw});
  return (attn.view({B, h, w, h, w}) + rel_h.unsqueeze(-1) + rel_w.unsqueeze(-2)).view({B, h * w, h * w});
}

// Attention.forward on (B, H, W, C). The attention maps of a global block
// are large (12 heads x 4096^2 floats = 805 MB for ViT-B at 1024 px), so
// heads are processed a few at a time: the same products and softmaxes per
// head, with buffers small enough to be reused instead of page-faulted anew.
at::Tensor attention(const Block& b, const at::Tensor& x) {
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), N = H * W;
  const at::Tensor qkv = b.qkv(x).reshape({B, N, 3, b.heads, -1}).permute({2, 0, 3, 1, 4});
  const auto parts = qkv.reshape({3, B * b.heads, N, -1}).unbind(0);
  const at::Tensor &q = parts[0], &k = parts[1], &v = parts[2];
  const double scale = std::pow(static_cast<double>(q.size(-1)), -0.5);
  constexpr int64_t kMapBytes = int64_t(64) << 20;
  const int64_t maps = B * b.heads, chunk = std::max<int64_t>(1, kMapBytes / (N * N * 4));
  std::vector<at::Tensor> outs;
  for (int64_t h0 = 0; h0 < maps; h0 += chunk) {
    const int64_t n = std::min(chunk, maps - h0);
    const at::Tensor qc = q.narrow(0, h0, n), kc = k.narrow(0, h0, n), vc = v.narrow(0, h0, n);
    at::Tensor attn = at::matmul(qc * scale, kc.transpose(-2, -1));
    if (b.rel_pos_h.defined()) attn = add_decomposed_rel_pos(attn, qc, b, H, W);
    outs.push_back(at::matmul(attn.softmax(-1), vc));
  }
  const at::Tensor o = outs.size() == 1 ? outs[0] : at::cat(outs, 0);
  return b.proj(o.view({B, b.heads, H, W, -1}).permute({0, 2, 3, 1, 4}).reshape({B, H, W, -1}));
}

// window_partition: zero-pad (B,H,W,C) to whole windows, cut into windows.
at::Tensor window_partition(const at::Tensor& x, int64_t ws, int64_t* Hp, int64_t* Wp) {
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  const int64_t pad_h = (ws - H % ws) % ws, pad_w = (ws - W % ws) % ws;
  at::Tensor p = (pad_h > 0 || pad_w > 0) ? at::constant_pad_nd(x, {0, 0, 0, pad_w, 0, pad_h}, 0.0) : x;
  *Hp = H + pad_h;
  *Wp = W + pad_w;
  return p.view({B, *Hp / ws, ws, *Wp / ws, ws, C}).permute({0, 1, 3, 2, 4, 5}).contiguous().view({-1, ws, ws, C});
}

at::Tensor window_unpartition(const at::Tensor& windows, int64_t ws, int64_t Hp, int64_t Wp, int64_t H, int64_t W) {
  const int64_t B = windows.size(0) / (Hp * Wp / ws / ws);
  at::Tensor x =
      windows.view({B, Hp / ws, Wp / ws, ws, ws, -1}).permute({0, 1, 3, 2, 4, 5}).contiguous().view({B, Hp, Wp, -1});
  if (Hp > H || Wp > W) x = x.slice(1, 0, H).slice(2, 0, W).contiguous();
  return x;
}

at::Tensor block_forward(const Block& b, const at::Tensor& x) {
  const at::Tensor shortcut = x;
  at::Tensor h = b.norm1(x);
  const int64_t H = h.size(1), W = h.size(2);
  if (b.window > 0) {
    int64_t Hp = 0, Wp = 0;
    h = window_partition(h, b.window, &Hp, &Wp);
    h = window_unpartition(attention(b, h), b.window, Hp, Wp, H, W);
  } else {
    h = attention(b, h);
  }
  const at::Tensor y = shortcut + h;
  return y + b.lin2(gelu_exact(b.lin1(b.norm2(y))));
}

class ViTEncoder final : public ImageEncoder {
 public:
  explicit ViTEncoder(const SamGeometry& g) : g_(g.vit), out_(g.embed_dim), blocks_(static_cast<size_t>(g.vit.depth)) {}

  void bind(TensorVisitor& v) override {
    const int64_t C = g_.width, P = g_.patch_size, grid = g_.grid(), hd = g_.width / g_.heads;
    patch_.bind(v, kPrefix + "patch_embed.proj.", 3, C, P);
    patch_.stride = P;
    v(kPrefix + "pos_embed", pos_embed_, {1, grid, grid, C}, Role::Parameter);
    for (int64_t i = 0; i < g_.depth; ++i) {
      Block& b = blocks_[i];
      const std::string p = kPrefix + "blocks." + std::to_string(i) + ".";
      const bool global = std::find(g_.global_blocks.begin(), g_.global_blocks.end(), i) != g_.global_blocks.end();
      b.window = global ? 0 : g_.window;
      b.heads = g_.heads;
      b.norm1.eps = b.norm2.eps = 1e-6;  // build_sam.py: partial(nn.LayerNorm, eps=1e-6)
      b.norm1.bind(v, p + "norm1.", C);
      b.qkv.bind(v, p + "attn.qkv.", C, 3 * C, g_.qkv_bias);
      b.proj.bind(v, p + "attn.proj.", C, C);
      // Attention(input_size = window or the whole grid): tables of 2*size-1 rows.
      const int64_t size = global ? grid : g_.window;
      v(p + "attn.rel_pos_h", b.rel_pos_h, {2 * size - 1, hd}, Role::Parameter);
      v(p + "attn.rel_pos_w", b.rel_pos_w, {2 * size - 1, hd}, Role::Parameter);
      b.norm2.bind(v, p + "norm2.", C);
      b.lin1.bind(v, p + "mlp.lin1.", C, g_.mlp_dim);
      b.lin2.bind(v, p + "mlp.lin2.", g_.mlp_dim, C);
    }
    neck_.bind(v, kPrefix + "neck.", C, out_);
  }

  at::Tensor forward(const at::Tensor& pixels, const std::vector<int64_t>& taps, std::vector<at::Tensor>* tap_outputs,
                     const SamBlockHook& hook) const override {
    // PatchEmbed: conv then B C H W -> B H W C; then the absolute positions.
    at::Tensor x = patch_(pixels).permute({0, 2, 3, 1});
    x = x + pos_embed_;
    std::vector<at::Tensor> tapped(taps.size());
    for (int64_t i = 0; i < g_.depth; ++i) {
      x = block_forward(blocks_[i], x);
      if (hook) x = checked_hook_output(hook(i, x), x, i);
      for (size_t t = 0; t < taps.size(); ++t)
        if (taps[t] == i) tapped[t] = x.permute({0, 3, 1, 2});
    }
    if (tap_outputs) *tap_outputs = std::move(tapped);
    return neck_(x.permute({0, 3, 1, 2}));
  }

 private:
  SamViTGeometry g_;
  int64_t out_;
  Conv2d patch_;
  at::Tensor pos_embed_;
  std::vector<Block> blocks_;
  Neck neck_;
};

}  // namespace

void infer_vit_geometry(const StateDict& sd, const std::string& source, SamGeometry& g) {
  SamViTGeometry& v = g.vit;
  const at::Tensor& patch = need_tensor(sd, kPrefix + "patch_embed.proj.weight", source, 4);
  v.width = patch.size(0);
  v.patch_size = patch.size(-1);
  const at::Tensor& pos = need_tensor(sd, kPrefix + "pos_embed", source, 4);
  if (pos.size(1) != pos.size(2) || pos.size(3) != v.width)
    fail(source, "tensor '" + kPrefix + "pos_embed' has shape " + shape_string(pos.sizes()) +
                     ", expected (1, grid, grid, " + std::to_string(v.width) + ")");
  const int64_t grid = pos.size(1);
  v.image_size = grid * v.patch_size;
  v.depth = count_indexed(sd, kPrefix + "blocks.", source);
  if (v.depth == 0) fail(source, "missing tensor '" + kPrefix + "blocks.0.attn.qkv.weight'");
  const std::string b0 = kPrefix + "blocks.0.";
  const at::Tensor& rel0 = need_tensor(sd, b0 + "attn.rel_pos_h", source, 2);
  const int64_t head_dim = rel0.size(1);
  if (head_dim <= 0 || v.width % head_dim != 0)
    fail(source, "tensor '" + b0 + "attn.rel_pos_h' has shape " + shape_string(rel0.sizes()) +
                     ": its head dim does not divide the width " + std::to_string(v.width));
  v.heads = v.width / head_dim;
  v.mlp_dim = need_tensor(sd, b0 + "mlp.lin1.weight", source, 2).size(0);
  v.qkv_bias = sd.count(b0 + "attn.qkv.bias") != 0;
  // A block's relative-position table has 2*size-1 rows: size = grid for
  // global attention, the window otherwise (window == grid attends globally
  // either way: one window, no padding).
  v.global_blocks.clear();
  v.window = 0;
  for (int64_t i = 0; i < v.depth; ++i) {
    const std::string key = kPrefix + "blocks." + std::to_string(i) + ".attn.rel_pos_h";
    const int64_t rows = need_tensor(sd, key, source, 2).size(0);
    if (rows % 2 == 0) fail(source, "tensor '" + key + "' has " + std::to_string(rows) + " rows, expected 2*size-1");
    const int64_t size = (rows + 1) / 2;
    if (size == grid) {
      v.global_blocks.push_back(i);
    } else if (v.window == 0 || v.window == size) {
      v.window = size;
    } else {
      fail(source, "tensor '" + key + "' implies window " + std::to_string(size) + ", other blocks use " +
                       std::to_string(v.window));
    }
  }
  g.image_size = v.image_size;
  g.embedding_grid = grid;
  g.embed_dim = need_tensor(sd, kPrefix + "neck.0.weight", source, 4).size(0);
}

std::unique_ptr<ImageEncoder> make_vit_encoder(const SamGeometry& g) { return std::make_unique<ViTEncoder>(g); }

}  // namespace ovseg::models::sam
