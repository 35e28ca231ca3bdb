// Random SAM state dicts drawn over the same layout description the loader
// checks (sam::visit_sam_layout), so the two cannot drift apart; the exact
// official names and shapes are pinned by tests against the reference's
// own state_dict() (tests/sam).
#include <ovseg/models/random_sam.hpp>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <stdexcept>

#include "sam_components.hpp"

namespace ovseg::models {
namespace {

bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}
bool contains(const std::string& s, const std::string& p) { return s.find(p) != std::string::npos; }

class RandomVisitor final : public sam::TensorVisitor {
 public:
  RandomVisitor(uint64_t seed, bool empty) : gen_(at::detail::createCPUGenerator(seed)), empty_(empty) {}
  StateDict sd;

  void operator()(const std::string& name, at::Tensor& t, const std::vector<int64_t>& shape, sam::Role role) override {
    const auto f32 = at::TensorOptions().dtype(at::kFloat);
    if (role == sam::Role::Counter) {
      t = at::zeros(shape, at::kLong);
    } else if (empty_) {
      t = at::empty(shape, f32);
    } else if (ends_with(name, "running_var")) {
      t = at::rand(shape, gen_, f32) + 0.5;
    } else if (ends_with(name, "running_mean")) {
      t = at::randn(shape, gen_, f32) * 0.1;
    } else if (contains(name, "positional_encoding_gaussian_matrix")) {
      t = at::randn(shape, gen_, f32);  // PositionEmbeddingRandom(scale=1): randn
    } else if (contains(name, "rel_pos_")) {
      t = at::randn(shape, gen_, f32) * 0.2;
    } else if (ends_with(name, "attention_biases")) {
      t = at::randn(shape, gen_, f32) * 0.5;
    } else if (ends_with(name, "pos_embed")) {
      t = at::randn(shape, gen_, f32) * 0.1;
    } else if (shape.size() == 1 && ends_with(name, "weight")) {  // LayerNorm / BatchNorm gains
      t = at::randn(shape, gen_, f32) * 0.1 + 1.0;
    } else if (shape.size() == 1) {  // biases
      t = at::randn(shape, gen_, f32) * 0.02;
    } else {
      // Linear (out, in), Conv (out, in/g, k, k), embeddings (rows, dim):
      // unit-variance activations.
      int64_t fan_in = 1;
      for (size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
      if (contains(name, "output_upscaling") && shape.size() == 4)  // ConvTranspose2d (in, out, k, k)
        fan_in = shape[0];
      const bool embedding = shape.size() == 2 &&
                             (contains(name, "point_embeddings.") || ends_with(name, "_embed.weight") ||
                              ends_with(name, "_token.weight") || ends_with(name, "_tokens.weight"));
      if (embedding) fan_in = 1;  // nn.Embedding: N(0, 1)
      t = at::randn(shape, gen_, f32) * std::pow(static_cast<double>(fan_in), -0.5);
    }
    sd[name] = t;
  }

 private:
  at::Generator gen_;
  bool empty_;
};

SamGeometry decoder_defaults(SamGeometry g, int64_t embed, int64_t mlp, int64_t iou_hidden) {
  g.embed_dim = embed;
  g.mask_in_chans = 16;
  g.decoder_depth = 2;
  g.decoder_heads = kSamDecoderHeads;
  g.decoder_mlp_dim = mlp;
  g.attention_downsample = 2;
  g.num_mask_tokens = 4;
  g.iou_head_depth = 3;
  g.iou_head_hidden = iou_hidden;
  return g;
}

SamGeometry vit(int64_t width, int64_t depth, int64_t heads, std::vector<int64_t> global, int64_t image_size,
                int64_t patch, int64_t window) {
  SamGeometry g;
  g.encoder = SamEncoderType::ViT;
  g.vit.image_size = image_size;
  g.vit.patch_size = patch;
  g.vit.width = width;
  g.vit.depth = depth;
  g.vit.heads = heads;
  g.vit.mlp_dim = 4 * width;
  g.vit.window = window;
  g.vit.global_blocks = std::move(global);
  return g;
}

SamGeometry tiny_vit(std::vector<int64_t> widths, std::vector<int64_t> depths, std::vector<int64_t> heads,
                     std::vector<int64_t> windows, int64_t classes) {
  SamGeometry g;
  g.encoder = SamEncoderType::TinyViT;
  auto& t = g.tiny_vit;
  t.image_size = kSamTinyViTImageSize;
  t.widths = std::move(widths);
  t.depths = std::move(depths);
  t.heads = std::move(heads);
  t.windows = std::move(windows);
  for (size_t i = 0; i < t.widths.size(); ++i) t.mlp_dims.push_back(i == 0 ? 0 : 4 * t.widths[i]);
  t.merge_strides.assign(t.widths.size() - 1, 2);
  t.merge_strides.back() = 1;
  t.mbconv_hidden = 4 * t.widths[0];
  t.local_conv = 3;
  t.classifier_classes = classes;
  return g;
}

}  // namespace

void finalize_sam_geometry(SamGeometry& g) {
  if (g.encoder == SamEncoderType::ViT) {
    g.image_size = g.vit.image_size;
    g.embedding_grid = g.vit.grid();
  } else {
    g.image_size = g.tiny_vit.image_size;
    g.embedding_grid = g.tiny_vit.grid();
  }
}

std::vector<std::string> sam_geometry_preset_names() {
  return {"vit_b", "vit_l", "vit_h", "mobile_sam", "vit_test", "vit_1024_test", "tiny_vit_test", "world"};
}

SamGeometry sam_geometry_preset(const std::string& name) {
  SamGeometry g;
  // build_sam.py: _build_sam(embed_dim, depth, heads, global_attn_indexes), 1024 px, patch 16, window 14.
  if (name == "vit_b")
    g = decoder_defaults(vit(768, 12, 12, {2, 5, 8, 11}, 1024, 16, 14), 256, 2048, 256);
  else if (name == "vit_l")
    g = decoder_defaults(vit(1024, 24, 16, {5, 11, 17, 23}, 1024, 16, 14), 256, 2048, 256);
  else if (name == "vit_h")
    g = decoder_defaults(vit(1280, 32, 16, {7, 15, 23, 31}, 1024, 16, 14), 256, 2048, 256);
  // MobileSAM build_sam_vit_t: TinyViT-5M widths and depths, ImageNet head of 1000 classes.
  else if (name == "mobile_sam")
    g = decoder_defaults(tiny_vit({64, 128, 160, 320}, {2, 2, 6, 2}, {0, 4, 5, 10}, {0, 7, 14, 7}, 1000), 256, 2048,
                         256);
  else if (name == "vit_test")
    g = decoder_defaults(vit(64, 4, 2, {1, 3}, 256, 16, 6), 64, 128, 64);
  // SAM's own encoder geometry (1024 px, window 14 over a 64x64 grid padded
  // to 70, global attention over 4096 tokens) at width 64.
  else if (name == "vit_1024_test")
    g = decoder_defaults(vit(64, 3, 2, {2}, 1024, 16, 14), 64, 128, 64);
  else if (name == "tiny_vit_test")
    g = decoder_defaults(tiny_vit({16, 32, 48, 320}, {1, 2, 2, 1}, {0, 2, 3, 5}, {0, 7, 14, 7}, 10), 256, 2048, 256);
  // The embedded world SAM (ovseg train-sam): 128 px scenes, 8 px patches,
  // a 16x16 embedding grid, a decoder of half SAM's width.
  else if (name == "world")
    g = decoder_defaults(vit(128, 4, 4, {1, 3}, 128, 8, 8), 128, 512, 128);
  else {
    std::string known;
    for (const auto& n : sam_geometry_preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown SAM geometry preset '" + name + "' (known: " + known + ")");
  }
  finalize_sam_geometry(g);
  return g;
}

StateDict make_random_sam_state_dict(const SamGeometry& geometry, uint64_t seed, bool uninitialized) {
  SamGeometry g = geometry;
  finalize_sam_geometry(g);
  RandomVisitor v(seed, uninitialized);
  sam::visit_sam_layout(g, v);
  return std::move(v.sd);
}

}  // namespace ovseg::models
