// OpenAI CLIP forward on plain ATen ops. Formulas follow openai/CLIP
// clip/model.py (VisionTransformer, Transformer, ResidualAttentionBlock,
// CLIP.encode_text, build_model) and torch.nn.MultiheadAttention; comments
// note where an ordering matters for bit-level parity.
#include <ovseg/models/clip_model.hpp>
#include <ATen/core/grad_mode.h>  // at::GradMode / NoGradGuard: ATen/ATen.h no longer brings them in LibTorch 2.x

#include <ovseg/models/clip_checkpoint.hpp>

#include <cmath>
#include <limits>
#include <set>
#include <sstream>

namespace ovseg::models {

std::string shape_string(at::IntArrayRef shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

at::Tensor normalize_clip_pixels(const at::Tensor& rgb01) {
  TORCH_CHECK(rgb01.dim() == 4 && rgb01.size(1) == 3, "normalize_clip_pixels: expected (B,3,H,W), got ", rgb01.sizes());
  auto opts = rgb01.options().dtype(at::kFloat);
  auto mean = at::tensor(at::ArrayRef<float>(kClipPixelMean.data(), 3), opts.device(at::kCPU))
                  .to(rgb01.device())
                  .view({1, 3, 1, 1});
  auto std = at::tensor(at::ArrayRef<float>(kClipPixelStd.data(), 3), opts.device(at::kCPU))
                 .to(rgb01.device())
                 .view({1, 3, 1, 1});
  return (rgb01.to(at::kFloat) - mean) / std;
}

at::Tensor normalize_imagenet_pixels(const at::Tensor& rgb01) {
  TORCH_CHECK(rgb01.dim() == 4 && rgb01.size(1) == 3, "normalize_imagenet_pixels: expected (B,3,H,W), got ",
              rgb01.sizes());
  auto opts = at::TensorOptions().dtype(at::kFloat);
  auto mean =
      at::tensor(at::ArrayRef<float>(kImageNetPixelMean255.data(), 3), opts).to(rgb01.device()).view({1, 3, 1, 1});
  auto std =
      at::tensor(at::ArrayRef<float>(kImageNetPixelStd255.data(), 3), opts).to(rgb01.device()).view({1, 3, 1, 1});
  // As mmcv's imnormalize on the 0-255 image the data pipeline decodes.
  return (rgb01.to(at::kFloat) * 255.0f - mean) / std;
}

// ---------------------------------------------------------------- geometry

std::string ClipGeometry::describe() const {
  std::ostringstream os;
  os << "ViT width " << vision_width << " x " << vision_layers << " layers (" << vision_heads << " heads), patch "
     << patch_size << ", " << image_resolution << " px; text width " << text_width << " x " << text_layers
     << " layers (" << text_heads << " heads), context " << context_length << ", vocab " << vocab_size << "; embed "
     << embed_dim;
  return os.str();
}

bool ClipGeometry::operator==(const ClipGeometry& o) const {
  return vision_width == o.vision_width && vision_layers == o.vision_layers && vision_heads == o.vision_heads &&
         patch_size == o.patch_size && image_resolution == o.image_resolution && embed_dim == o.embed_dim &&
         context_length == o.context_length && vocab_size == o.vocab_size && text_width == o.text_width &&
         text_heads == o.text_heads && text_layers == o.text_layers;
}

ClipGeometry clip_geometry_preset(const std::string& name) {
  // Values from openai/CLIP's published checkpoints (build_model on their shapes).
  auto make = [](int64_t vw, int64_t vl, int64_t p, int64_t res, int64_t e, int64_t tw, int64_t tl, int64_t vocab) {
    ClipGeometry g;
    g.vision_width = vw;
    g.vision_layers = vl;
    g.vision_heads = vw / 64;
    g.patch_size = p;
    g.image_resolution = res;
    g.embed_dim = e;
    g.context_length = 77;
    g.vocab_size = vocab;
    g.text_width = tw;
    g.text_heads = tw / 64;
    g.text_layers = tl;
    return g;
  };
  if (name == "ViT-B/32") return make(768, 12, 32, 224, 512, 512, 12, 49408);
  if (name == "ViT-B/16") return make(768, 12, 16, 224, 512, 512, 12, 49408);
  if (name == "ViT-L/14") return make(1024, 24, 14, 224, 768, 768, 12, 49408);
  if (name == "ViT-L/14@336") return make(1024, 24, 14, 336, 768, 768, 12, 49408);
  if (name == "tiny") return make(64, 2, 16, 64, 32, 64, 2, 49408);
  // The embedded default (`ovseg train-clip` on `ovseg world`): 64 px scenes,
  // 8 px patches; the full vocabulary keeps the real tokenizer's ids valid
  // and is most of its size (49408 x 64 fp16 = 6.3 MB).
  if (name == "world") return make(128, 2, 8, 64, 64, 64, 4, 49408);
  throw std::invalid_argument("unknown CLIP geometry preset '" + name +
                              "' (known: ViT-B/32, ViT-B/16, ViT-L/14, ViT-L/14@336, tiny, world)");
}

namespace {

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw CheckpointError("CLIP checkpoint '" + source + "': " + what);
}

const at::Tensor& need(const StateDict& sd, const std::string& key, const std::string& source, int64_t dim) {
  auto it = sd.find(key);
  if (it == sd.end()) fail(source, "missing tensor '" + key + "'");
  if (it->second.dim() != dim)
    fail(source, "tensor '" + key + "' has shape " + shape_string(it->second.sizes()) + ", expected a " +
                     std::to_string(dim) + "-d tensor");
  return it->second;
}

// Distinct N in "<prefix>N." keys; must be 0..L-1 without gaps.
int64_t count_blocks(const StateDict& sd, const std::string& prefix, const std::string& source) {
  std::set<int64_t> idx;
  for (const auto& kv : sd) {
    if (kv.first.compare(0, prefix.size(), prefix) != 0) continue;
    const auto rest = kv.first.substr(prefix.size());
    const auto dot = rest.find('.');
    try {
      idx.insert(std::stoll(rest.substr(0, dot)));
    } catch (const std::exception&) {
      fail(source, "unexpected key '" + kv.first + "'");
    }
  }
  int64_t expect = 0;
  for (int64_t i : idx)
    if (i != expect++) fail(source, "missing tensors of block '" + prefix + std::to_string(expect - 1) + "'");
  return static_cast<int64_t>(idx.size());
}

int64_t heads_for(int64_t width, const char* tower, const std::string& source) {
  if (width <= 0 || width % 64 != 0)
    fail(source, std::string(tower) + " width " + std::to_string(width) +
                     " is not a multiple of 64 (CLIP uses 64-wide attention heads)");
  return width / 64;
}

}  // namespace

ClipGeometry infer_clip_geometry(const StateDict& sd, const std::string& source) {
  if (sd.count("visual.layer1.0.conv1.weight") || sd.count("visual.attnpool.positional_embedding"))
    fail(source,
         "ModifiedResNet (RN50/RN101/RN50x*) visual towers are not supported; "
         "only ViT checkpoints (ViT-B/32, ViT-B/16, ViT-L/14, ...)");
  ClipGeometry g;
  const auto& conv1 = need(sd, "visual.conv1.weight", source, 4);
  g.vision_width = conv1.size(0);
  g.patch_size = conv1.size(-1);
  g.vision_layers = count_blocks(sd, "visual.transformer.resblocks.", source);
  if (g.vision_layers == 0) fail(source, "missing tensor 'visual.transformer.resblocks.0.attn.in_proj_weight'");
  const auto& vpos = need(sd, "visual.positional_embedding", source, 2);
  const int64_t n_patches = vpos.size(0) - 1;
  const auto grid = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n_patches))));
  if (grid <= 0 || grid * grid != n_patches)
    fail(source, "tensor 'visual.positional_embedding' has shape " + shape_string(vpos.sizes()) +
                     ": expected 1 + grid*grid rows");
  g.image_resolution = g.patch_size * grid;
  g.vision_heads = heads_for(g.vision_width, "vision", source);

  g.embed_dim = need(sd, "text_projection", source, 2).size(1);
  g.context_length = need(sd, "positional_embedding", source, 2).size(0);
  g.vocab_size = need(sd, "token_embedding.weight", source, 2).size(0);
  g.text_width = need(sd, "ln_final.weight", source, 1).size(0);
  g.text_heads = heads_for(g.text_width, "text", source);
  g.text_layers = count_blocks(sd, "transformer.resblocks.", source);
  if (g.text_layers == 0) fail(source, "missing tensor 'transformer.resblocks.0.attn.in_proj_weight'");
  return g;
}

// ------------------------------------------------------------ building blocks

at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  // CLIP's LayerNorm subclass computes in float32 and returns the input's
  // type (x.type(torch.float32), then ret.type(orig_type)); all our weights
  // are float32. Under `--precision bf16` autocast this is what keeps a bf16
  // input working (LibTorch 1.13's CPU layer_norm wants one dtype).
  if (x.scalar_type() == at::kBFloat16 || x.scalar_type() == at::kHalf)
    return at::layer_norm(x.to(at::kFloat), {x.size(-1)}, w, b, 1e-5).to(x.scalar_type());
  return at::layer_norm(x, {x.size(-1)}, w, b, 1e-5);
}

at::Tensor quick_gelu(const at::Tensor& x) {
  // x * sigmoid(1.702 x). The MLP activation is the largest tensor of a
  // block. Without autograd we compute it as silu(1.702 x) / 1.702 (equal up
  // to float rounding) in one buffer: Debian's LibTorch vectorises silu but
  // not sigmoid (measured 0.63 vs 2.9 ms on 197x3072 floats).
  if (x.requires_grad() && at::GradMode::is_enabled()) return x * at::sigmoid(1.702 * x);
  auto y = x * 1.702;
  at::silu_(y);
  return y.div_(1.702);
}

QKV block_qkv(const ResidualBlockWeights& blk, const at::Tensor& x_ln1) {
  TORCH_CHECK(x_ln1.dim() == 3, "block_qkv: expected (B,N,C) tokens, got ", x_ln1.sizes());
  const int64_t B = x_ln1.size(0), N = x_ln1.size(1), H = blk.heads, d = blk.head_dim();
  // nn.MultiheadAttention's packed in-projection: one linear, rows q | k | v.
  auto qkv = at::linear(x_ln1, blk.in_proj_weight(), blk.in_proj_b).view({B, N, 3, H, d});
  qkv = qkv.permute({2, 0, 3, 1, 4});  // (3, B, H, N, d)
  return QKV{qkv[0], qkv[1], qkv[2]};
}

at::Tensor merge_heads(const at::Tensor& x) {
  const int64_t B = x.size(0), H = x.size(1), N = x.size(2), d = x.size(3);
  return x.transpose(1, 2).reshape({B, N, H * d});
}

at::Tensor block_out_proj(const ResidualBlockWeights& blk, const at::Tensor& x) {
  return at::linear(x, blk.out_proj_w, blk.out_proj_b);
}

at::Tensor block_attention(const ResidualBlockWeights& blk, const at::Tensor& x_ln1, const at::Tensor& mask) {
  auto qkv = block_qkv(blk, x_ln1);
  // As torch.nn.functional's _scaled_dot_product_attention (1.13): q is divided
  // by sqrt(head_dim) before q k^T; the additive mask is added before softmax.
  auto q = qkv.q / std::sqrt(static_cast<double>(blk.head_dim()));
  auto attn = at::matmul(q, qkv.k.transpose(-2, -1));
  if (mask.defined()) attn = attn + mask;
  attn = at::softmax(attn, -1);
  return block_out_proj(blk, merge_heads(at::matmul(attn, qkv.v)));
}

at::Tensor block_mlp(const ResidualBlockWeights& blk, const at::Tensor& x_ln2) {
  return at::linear(quick_gelu(at::linear(x_ln2, blk.fc_w, blk.fc_b)), blk.proj_w, blk.proj_b);
}

at::Tensor residual_block_forward(const ResidualBlockWeights& blk, const at::Tensor& x, const at::Tensor& mask) {
  auto h = x + block_attention(blk, layer_norm(x, blk.ln1_w, blk.ln1_b), mask);
  return h + block_mlp(blk, layer_norm(h, blk.ln2_w, blk.ln2_b));
}

void ResidualBlockWeights::split_in_proj() {
  if (is_split()) return;
  const int64_t C = width();
  q_w = in_proj_w.narrow(0, 0, C).clone();
  k_w = in_proj_w.narrow(0, C, C).clone();
  v_w = in_proj_w.narrow(0, 2 * C, C).clone();
  in_proj_w = at::Tensor();
}

at::Tensor ResidualBlockWeights::in_proj_weight() const { return is_split() ? at::cat({q_w, k_w, v_w}, 0) : in_proj_w; }

at::Tensor ResidualBlockWeights::projection_weight(int64_t which) const {
  if (is_split()) return which == 0 ? q_w : which == 1 ? k_w : v_w;
  const int64_t C = width();
  return in_proj_w.narrow(0, which * C, C);
}

at::Tensor interpolate_positional_embedding(const at::Tensor& pos, int64_t h, int64_t w, bool bilinear) {
  TORCH_CHECK(pos.dim() == 2, "positional embedding must be (1+g*g, C), got ", pos.sizes());
  TORCH_CHECK(h > 0 && w > 0, "interpolate_positional_embedding: bad grid ", h, "x", w);
  const int64_t n = pos.size(0) - 1, C = pos.size(1);
  const auto g = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  TORCH_CHECK(g * g == n, "positional embedding has ", pos.size(0), " rows, not 1 + g*g");
  if (h == g && w == g) return pos;
  // Rows 1.. are the g x g grid in row-major order -> (1, C, g, g).
  auto grid = pos.slice(0, 1).t().reshape({1, C, g, g});
  auto up = bilinear ? at::upsample_bilinear2d(grid, {h, w}, /*align_corners=*/false)
                     : at::upsample_bicubic2d(grid, {h, w}, /*align_corners=*/false);
  return at::cat({pos.slice(0, 0, 1), up.reshape({C, h * w}).t()}, 0);
}

// ------------------------------------------------------------------- model

namespace {

at::Tensor take(const StateDict& sd, const std::string& key, at::IntArrayRef shape, const std::string& source) {
  auto it = sd.find(key);
  if (it == sd.end()) fail(source, "missing tensor '" + key + "'");
  if (it->second.sizes() != shape)
    fail(source,
         "tensor '" + key + "' has shape " + shape_string(it->second.sizes()) + ", expected " + shape_string(shape));
  if (!it->second.is_floating_point())
    fail(source, "tensor '" + key + "' has non-floating dtype " + std::string(c10::toString(it->second.scalar_type())));
  return it->second.to(at::kFloat).contiguous();
}

ResidualBlockWeights take_block(const StateDict& sd, const std::string& p, int64_t C, int64_t heads,
                                const std::string& s) {
  ResidualBlockWeights b;
  b.ln1_w = take(sd, p + "ln_1.weight", {C}, s);
  b.ln1_b = take(sd, p + "ln_1.bias", {C}, s);
  b.in_proj_w = take(sd, p + "attn.in_proj_weight", {3 * C, C}, s);
  b.in_proj_b = take(sd, p + "attn.in_proj_bias", {3 * C}, s);
  b.out_proj_w = take(sd, p + "attn.out_proj.weight", {C, C}, s);
  b.out_proj_b = take(sd, p + "attn.out_proj.bias", {C}, s);
  b.ln2_w = take(sd, p + "ln_2.weight", {C}, s);
  b.ln2_b = take(sd, p + "ln_2.bias", {C}, s);
  b.fc_w = take(sd, p + "mlp.c_fc.weight", {4 * C, C}, s);
  b.fc_b = take(sd, p + "mlp.c_fc.bias", {4 * C}, s);
  b.proj_w = take(sd, p + "mlp.c_proj.weight", {C, 4 * C}, s);
  b.proj_b = take(sd, p + "mlp.c_proj.bias", {C}, s);
  b.heads = heads;
  return b;
}

void put_block(StateDict& sd, const std::string& p, const ResidualBlockWeights& b) {
  sd[p + "ln_1.weight"] = b.ln1_w;
  sd[p + "ln_1.bias"] = b.ln1_b;
  sd[p + "attn.in_proj_weight"] = b.in_proj_weight();
  sd[p + "attn.in_proj_bias"] = b.in_proj_b;
  sd[p + "attn.out_proj.weight"] = b.out_proj_w;
  sd[p + "attn.out_proj.bias"] = b.out_proj_b;
  sd[p + "ln_2.weight"] = b.ln2_w;
  sd[p + "ln_2.bias"] = b.ln2_b;
  sd[p + "mlp.c_fc.weight"] = b.fc_w;
  sd[p + "mlp.c_fc.bias"] = b.fc_b;
  sd[p + "mlp.c_proj.weight"] = b.proj_w;
  sd[p + "mlp.c_proj.bias"] = b.proj_b;
}

std::vector<at::Tensor*> block_tensors(ResidualBlockWeights& b) {
  return {&b.ln1_w, &b.ln1_b, &b.in_proj_w, &b.in_proj_b, &b.out_proj_w, &b.out_proj_b, &b.ln2_w, &b.ln2_b,
          &b.fc_w,  &b.fc_b,  &b.proj_w,    &b.proj_b,    &b.q_w,        &b.k_w,        &b.v_w};
}

void move_block(ResidualBlockWeights& b, at::Device d) {
  for (at::Tensor* t : block_tensors(b))
    if (t->defined()) *t = t->to(d);
}

// Block tensors by their OpenAI names under prefix p (split q/k/v by CAT-Seg's).
void list_block(std::vector<std::pair<std::string, at::Tensor>>& out, const std::string& p,
                const ResidualBlockWeights& b) {
  out.emplace_back(p + "ln_1.weight", b.ln1_w);
  out.emplace_back(p + "ln_1.bias", b.ln1_b);
  if (b.is_split()) {
    out.emplace_back(p + "attn.q_proj_weight", b.q_w);
    out.emplace_back(p + "attn.k_proj_weight", b.k_w);
    out.emplace_back(p + "attn.v_proj_weight", b.v_w);
  } else {
    out.emplace_back(p + "attn.in_proj_weight", b.in_proj_w);
  }
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

std::shared_ptr<ClipModel> ClipModel::from_state_dict(StateDict sd, const std::string& source) {
  std::shared_ptr<ClipModel> m(new ClipModel());
  m->source_ = source;
  const ClipGeometry g = infer_clip_geometry(sd, source);
  m->geom_ = g;
  const int64_t C = g.vision_width, T = g.text_width, grid = g.grid();

  m->conv1_w = take(sd, "visual.conv1.weight", {C, 3, g.patch_size, g.patch_size}, source);
  m->class_embedding = take(sd, "visual.class_embedding", {C}, source);
  m->vision_positional_embedding = take(sd, "visual.positional_embedding", {1 + grid * grid, C}, source);
  m->ln_pre_w = take(sd, "visual.ln_pre.weight", {C}, source);
  m->ln_pre_b = take(sd, "visual.ln_pre.bias", {C}, source);
  for (int64_t i = 0; i < g.vision_layers; ++i)
    m->vision_blocks_.push_back(
        take_block(sd, "visual.transformer.resblocks." + std::to_string(i) + ".", C, g.vision_heads, source));
  m->ln_post_w = take(sd, "visual.ln_post.weight", {C}, source);
  m->ln_post_b = take(sd, "visual.ln_post.bias", {C}, source);
  m->visual_proj = take(sd, "visual.proj", {C, g.embed_dim}, source);

  m->token_embedding = take(sd, "token_embedding.weight", {g.vocab_size, T}, source);
  m->text_positional_embedding = take(sd, "positional_embedding", {g.context_length, T}, source);
  for (int64_t i = 0; i < g.text_layers; ++i)
    m->text_blocks_.push_back(
        take_block(sd, "transformer.resblocks." + std::to_string(i) + ".", T, g.text_heads, source));
  m->ln_final_w = take(sd, "ln_final.weight", {T}, source);
  m->ln_final_b = take(sd, "ln_final.bias", {T}, source);
  m->text_projection = take(sd, "text_projection", {T, g.embed_dim}, source);

  auto ls = sd.find("logit_scale");
  if (ls == sd.end()) fail(source, "missing tensor 'logit_scale'");
  if (ls->second.numel() != 1)
    fail(source, "tensor 'logit_scale' has shape " + shape_string(ls->second.sizes()) + ", expected a scalar");
  m->logit_scale_log_ = ls->second.to(at::kFloat).reshape({}).item<float>();
  m->logit_scale = std::exp(m->logit_scale_log_);
  return m;
}

std::shared_ptr<ClipModel> ClipModel::load(const std::string& path) {
  return from_state_dict(load_clip_state_dict(path), path);
}

const ResidualBlockWeights& ClipModel::vision_block(int64_t i) const {
  TORCH_CHECK(i >= 0 && i < static_cast<int64_t>(vision_blocks_.size()), "vision block ", i, " out of range (",
              vision_blocks_.size(), " layers)");
  return vision_blocks_[i];
}

const ResidualBlockWeights& ClipModel::text_block(int64_t i) const {
  TORCH_CHECK(i >= 0 && i < static_cast<int64_t>(text_blocks_.size()), "text block ", i, " out of range (",
              text_blocks_.size(), " layers)");
  return text_blocks_[i];
}

at::Tensor ClipModel::embed_image(const at::Tensor& pixels, int64_t* grid_h, int64_t* grid_w,
                                  const ImageEmbedOptions& o) const {
  const int64_t P = geom_.patch_size, C = geom_.vision_width;
  TORCH_CHECK(pixels.dim() == 4 && pixels.size(1) == 3, "CLIP image tower: expected pixels (B,3,H,W), got ",
              pixels.sizes());
  TORCH_CHECK(pixels.size(2) >= P && pixels.size(3) >= P && pixels.size(2) % P == 0 && pixels.size(3) % P == 0,
              "CLIP image tower: image size ", pixels.size(2), "x", pixels.size(3),
              " is not a positive multiple of the patch size ", P);
  auto x = at::conv2d(pixels.to(at::kFloat), conv1_w, /*bias=*/{}, /*stride=*/{P, P});
  const int64_t B = x.size(0), gh = x.size(2), gw = x.size(3);
  x = x.flatten(2).transpose(1, 2);  // (B, gh*gw, C)
  // class_embedding + zeros(B,1,C), prepended; then (interpolated) positions.
  x = at::cat({class_embedding.view({1, 1, C}).expand({B, 1, C}), x}, 1);
  const at::Tensor& pos = o.positional_embedding.defined() ? o.positional_embedding : vision_positional_embedding;
  TORCH_CHECK(pos.dim() == 2 && pos.size(1) == C, "CLIP image tower: positional embedding ", pos.sizes(),
              " is not (1+g*g, ", C, ")");
  at::Tensor positions = interpolate_positional_embedding(pos, gh, gw, o.bilinear_positions);
  if (o.class_embedding_in_cls_position)
    positions = at::cat({positions.slice(0, 0, 1) + class_embedding.view({1, C}), positions.slice(0, 1)}, 0);
  x = x + positions;
  if (o.appended_tokens.defined()) {
    const at::Tensor& a = o.appended_tokens;
    TORCH_CHECK((a.dim() == 2 || a.dim() == 3) && a.size(-1) == C, "CLIP image tower: appended tokens ", a.sizes(),
                " are not (R,", C, ") or (B,R,", C, ")");
    x = at::cat({x, a.dim() == 2 ? a.unsqueeze(0).expand({B, a.size(0), C}) : a.expand({B, a.size(1), C})}, 1);
  }
  if (grid_h) *grid_h = gh;
  if (grid_w) *grid_w = gw;
  return layer_norm(x, ln_pre_w, ln_pre_b);
}

at::Tensor ClipModel::run_vision_blocks(const at::Tensor& x, int64_t begin, int64_t end) const {
  return run_vision_blocks(x, begin, end, at::Tensor());
}

at::Tensor ClipModel::run_vision_blocks(const at::Tensor& x, int64_t begin, int64_t end, const at::Tensor& attn_mask,
                                        const VisionBlockHook& hook) const {
  TORCH_CHECK(0 <= begin && begin <= end && end <= geom_.vision_layers, "run_vision_blocks: bad range [", begin, ", ",
              end, ")");
  at::Tensor h = x;
  for (int64_t i = begin; i < end; ++i) {
    if (hook) h = hook(i, h);
    TORCH_CHECK(!attn_mask.defined() ||
                    (attn_mask.dim() == 2 && attn_mask.size(0) == h.size(1) && attn_mask.size(1) == h.size(1)),
                "run_vision_blocks: attention mask ", attn_mask.sizes(), " does not match the ", h.size(1),
                " tokens entering block ", i);
    h = residual_block_forward(vision_blocks_[i], h, attn_mask);
  }
  return h;
}

VisionForward ClipModel::encode_image_tokens(const at::Tensor& pixels, bool keep_all_blocks,
                                             bool run_last_block) const {
  VisionForward out;
  out.embedded = embed_image(pixels, &out.grid_h, &out.grid_w);
  at::Tensor x = out.embedded;
  const int64_t L = geom_.vision_layers;
  for (int64_t i = 0; i < L - 1; ++i) {
    x = residual_block_forward(vision_blocks_[i], x);
    if (keep_all_blocks) out.block_tokens.push_back(x);
  }
  out.penultimate = x;
  if (run_last_block) {
    out.final_tokens = residual_block_forward(vision_blocks_[L - 1], x);
    if (keep_all_blocks) out.block_tokens.push_back(out.final_tokens);
  }
  return out;
}

at::Tensor ClipModel::project_tokens(const at::Tensor& tokens) const {
  return at::matmul(layer_norm(tokens, ln_post_w, ln_post_b), visual_proj);
}

at::Tensor ClipModel::encode_image(const at::Tensor& pixels) const {
  auto f = encode_image_tokens(pixels, false, true);
  return project_tokens(f.final_tokens.select(1, 0));  // CLS token
}

at::Tensor ClipModel::dense_features(const at::Tensor& pixels, int64_t* grid_h, int64_t* grid_w) const {
  auto f = encode_image_tokens(pixels, false, true);
  if (grid_h) *grid_h = f.grid_h;
  if (grid_w) *grid_w = f.grid_w;
  return project_tokens(f.final_tokens.slice(1, 1));
}

at::Tensor ClipModel::encode_text(const at::Tensor& token_ids) const {
  TORCH_CHECK(token_ids.dim() == 2, "encode_text: expected token ids (K,L), got ", token_ids.sizes());
  const int64_t L = token_ids.size(1);
  TORCH_CHECK(L >= 1 && L <= geom_.context_length, "encode_text: sequence length ", L, " exceeds the context length ",
              geom_.context_length);
  auto ids = token_ids.to(token_embedding.device(), at::kLong);
  TORCH_CHECK(token_ids.size(0) > 0, "encode_text: no token rows");
  TORCH_CHECK(ids.min().item<int64_t>() >= 0 && ids.max().item<int64_t>() < geom_.vocab_size,
              "encode_text: token id out of range [0, ", geom_.vocab_size, ")");
  auto eot = ids.argmax(-1);
  // With the causal mask, tokens after a row's EOT never reach its EOT
  // output, so the batch only needs columns up to the last EOT: typical
  // prompts use 10-20 of the 77 positions, a several-fold saving. The result
  // equals the full-length forward up to float summation order.
  const int64_t used = eot.max().item<int64_t>() + 1;
  if (used < L) ids = ids.slice(1, 0, used);
  return encode_text_columns(ids, eot);
}

at::Tensor ClipModel::encode_text_columns(const at::Tensor& ids, const at::Tensor& eot) const {
  const int64_t K = ids.size(0), L = ids.size(1);
  auto x = at::embedding(token_embedding, ids) + text_positional_embedding.slice(0, 0, L);
  // Causal mask: -inf strictly above the diagonal (build_attention_mask).
  auto mask = at::full({L, L}, -std::numeric_limits<float>::infinity(), x.options()).triu_(1);
  for (const auto& blk : text_blocks_) x = residual_block_forward(blk, x, mask);
  // Pool at the EOT token (largest id). ln_final is per token, so gathering
  // first gives the same values as ln_final over all tokens then gathering.
  auto rows = at::arange(K, ids.options()) * L + eot;
  auto pooled = x.reshape({K * L, x.size(-1)}).index_select(0, rows);
  return at::matmul(layer_norm(pooled, ln_final_w, ln_final_b), text_projection);
}

void ClipModel::to(at::Device d) {
  for (at::Tensor* t :
       {&class_embedding, &vision_positional_embedding, &conv1_w, &ln_pre_w, &ln_pre_b, &ln_post_w, &ln_post_b,
        &visual_proj, &token_embedding, &text_positional_embedding, &ln_final_w, &ln_final_b, &text_projection})
    *t = t->to(d);
  for (auto& b : vision_blocks_) move_block(b, d);
  for (auto& b : text_blocks_) move_block(b, d);
}

std::shared_ptr<ClipModel> ClipModel::clone() const {
  std::shared_ptr<ClipModel> m(new ClipModel(*this));
  for (at::Tensor* t : {&m->class_embedding, &m->vision_positional_embedding, &m->conv1_w, &m->ln_pre_w, &m->ln_pre_b,
                        &m->ln_post_w, &m->ln_post_b, &m->visual_proj, &m->token_embedding,
                        &m->text_positional_embedding, &m->ln_final_w, &m->ln_final_b, &m->text_projection})
    *t = t->clone();
  for (auto* blocks : {&m->vision_blocks_, &m->text_blocks_})
    for (auto& b : *blocks)
      for (at::Tensor* t : block_tensors(b))
        if (t->defined()) *t = t->clone();
  return m;
}

std::vector<std::pair<std::string, at::Tensor>> ClipModel::vision_tensors() {
  std::vector<std::pair<std::string, at::Tensor>> out = {{"visual.class_embedding", class_embedding},
                                                         {"visual.positional_embedding", vision_positional_embedding},
                                                         {"visual.conv1.weight", conv1_w},
                                                         {"visual.ln_pre.weight", ln_pre_w},
                                                         {"visual.ln_pre.bias", ln_pre_b}};
  for (size_t i = 0; i < vision_blocks_.size(); ++i)
    list_block(out, "visual.transformer.resblocks." + std::to_string(i) + ".", vision_blocks_[i]);
  out.emplace_back("visual.ln_post.weight", ln_post_w);
  out.emplace_back("visual.ln_post.bias", ln_post_b);
  out.emplace_back("visual.proj", visual_proj);
  return out;
}

void ClipModel::split_vision_in_proj() {
  for (auto& b : vision_blocks_) b.split_in_proj();
}

StateDict ClipModel::state_dict() const {
  StateDict sd;
  sd["visual.conv1.weight"] = conv1_w;
  sd["visual.class_embedding"] = class_embedding;
  sd["visual.positional_embedding"] = vision_positional_embedding;
  sd["visual.ln_pre.weight"] = ln_pre_w;
  sd["visual.ln_pre.bias"] = ln_pre_b;
  for (size_t i = 0; i < vision_blocks_.size(); ++i)
    put_block(sd, "visual.transformer.resblocks." + std::to_string(i) + ".", vision_blocks_[i]);
  sd["visual.ln_post.weight"] = ln_post_w;
  sd["visual.ln_post.bias"] = ln_post_b;
  sd["visual.proj"] = visual_proj;
  sd["token_embedding.weight"] = token_embedding;
  sd["positional_embedding"] = text_positional_embedding;
  for (size_t i = 0; i < text_blocks_.size(); ++i)
    put_block(sd, "transformer.resblocks." + std::to_string(i) + ".", text_blocks_[i]);
  sd["ln_final.weight"] = ln_final_w;
  sd["ln_final.bias"] = ln_final_b;
  sd["text_projection"] = text_projection;
  sd["logit_scale"] = at::scalar_tensor(logit_scale_log_, at::TensorOptions().dtype(at::kFloat));
  return sd;
}

}  // namespace ovseg::models
