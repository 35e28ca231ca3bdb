// SCHNet's trainable modules as plain tensors with a forward each, named as
// the `schnet` stage's weights file names them (README "SCHNet", state-dict
// layout). No public code exists; every formula here is an assumption built
// from the paper's abstract and public descriptions, and says so.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Generator.h>

namespace ovseg::schnet {

struct NamedParam {
  std::string name;
  at::Tensor* tensor;
};

struct Linear {
  at::Tensor weight, bias;  // (out, in), (out)
  at::Tensor operator()(const at::Tensor& x) const { return at::linear(x, weight, bias); }
};
struct LayerNorm {
  at::Tensor weight, bias;
  double eps = 1e-6;
  at::Tensor operator()(const at::Tensor& x) const { return at::layer_norm(x, {weight.size(0)}, weight, bias, eps); }
};

at::Generator make_generator(uint64_t seed);
// nn.Linear's default initialisation (kaiming-uniform weights, uniform bias).
Linear default_linear(int64_t in, int64_t out, at::Generator& gen);
Linear zero_linear(int64_t in, int64_t out);
LayerNorm unit_layer_norm(int64_t dim);

// How CLIP features enter a SAM block's output tokens x (B,h,w,C).
enum class Fusion { Add, Gated, CrossAttention };
Fusion parse_fusion(const std::string& name);

// Semantic-Refinement Module, one injection: CLIP block `clip_block`'s patch
// tokens (B,hc,wc,Cc) into the output of SAM block `sam_block`.
//   add:    x + W(LN(f))                    W zero-initialised
//   gated:  x + tanh(gate) * W(LN(f))       gate (C) zero-initialised, W default
//   cross:  x + O(softmax(Q(x) K(f)^T / sqrt(C)) V(f))   O zero-initialised
// f is resized bilinearly to x's valid region for add / gated (cross
// attention reads CLIP's own grid). Zero initialisation makes the untrained
// module the identity: SCHNet starts as plain SAM (assumption, as
// ControlNet's zero convolutions and Rein's delta layers).
struct SrmInjection {
  int64_t sam_block = 0, clip_block = 0;
  Fusion fusion = Fusion::Add;
  LayerNorm norm;       // on CLIP features
  Linear proj;          // add / gated: Cc -> C
  at::Tensor gate;      // gated: (C)
  Linear q, k, v, out;  // cross attention: x -> C, f -> C, f -> C, C -> C
  void init(int64_t clip_width, int64_t sam_width, at::Generator& gen);
  // x (B,h,w,C); clip (B,hc,wc,Cc); valid_h/w: the image's region of the
  // padded SAM grid (the rest is padding and receives nothing).
  at::Tensor operator()(const at::Tensor& x, const at::Tensor& clip, int64_t valid_h, int64_t valid_w) const;
  void named(const std::string& prefix, std::vector<NamedParam>& out);
};

// Fine-tuning Module (Rein-style, Wei et al. CVPR 2024, which public
// descriptions of SCHNet's FTM match: learnable tokens per block, an MLP
// shared by all blocks): for block i with tokens T_i (m,C),
//   S = softmax(x T_i^T / sqrt(C));  dF = S (T_i W_t + b_t);
//   x' = x + (dF + x) W_f + b_f       (W_t, W_f shared; W_f, b_f zero-initialised)
struct Ftm {
  std::vector<int64_t> blocks;
  std::vector<at::Tensor> tokens;  // per block in `blocks`: (m, C)
  Linear mlp_token, mlp_delta;     // shared across blocks
  void init(const std::vector<int64_t>& sam_blocks, int64_t tokens_per_block, int64_t width, at::Generator& gen);
  at::Tensor operator()(size_t index, const at::Tensor& x) const;  // x (B,h,w,C)
  void named(const std::string& prefix, std::vector<NamedParam>& out);
};

// The parsing decoder (assumption: the paper's is not described publicly):
// SAM's neck output (B,Cn,g,g) -> 2x transposed conv -> LayerNorm2d -> GELU
// -> 2x transposed conv -> GELU (the shape of SAM's own output_upscaling)
// -> 1x1 classifier to K parts (linear), or to the text width compared by
// cosine with the part names' CLIP text embeddings (text).
//
// Optional detail branch (detail_channels > 0), after CE2P's high-resolution
// embedding module (Ruan et al., AAAI 2019; kept by SCHP): human parsers fuse
// low-level, high-resolution features with the coarse context features
// before the classifier, because hands, shoes and faces are a few pixels wide
// at the backbone's stride. SAM's ViT has no early high-resolution stage, so
// the low-level features here are one strided conv on SAM's own input pixels
// (ASSUMPTION):
//   d = GELU(conv_{2r+1, stride r}(pixels))     r = S / 4g, the decoder's stride
//   y = GELU(conv_3x3([x, d]))                  x: the upscaled neck features
// then the classifier as above.
struct Decoder {
  at::Tensor up0_w, up0_b, norm_w, norm_b, up1_w, up1_b, cls_w, cls_b;
  at::Tensor detail_w, detail_b, fuse_w, fuse_b;  // undefined without the detail branch
  bool text = false;
  double logit_scale = 40.0;
  void init(int64_t in, int64_t mid, int64_t out, int64_t classes_or_text_dim, bool text_classifier,
            at::Generator& gen);
  // Adds the detail branch: `channels` low-level features at stride `stride`
  // of SAM's input pixels (call after init).
  void init_detail(int64_t channels, int64_t stride, at::Generator& gen);
  bool has_detail() const { return detail_w.defined(); }
  // neck (B,Cn,g,g) -> logits (B,K,4g,4g); text (K,D) used by the text
  // classifier; pixels (B,3,S,S) SAM's preprocessed input, read by the detail
  // branch (S = 4g * stride).
  at::Tensor operator()(const at::Tensor& neck, const at::Tensor& text_embeddings, const at::Tensor& pixels) const;
  void named(const std::string& prefix, std::vector<NamedParam>& out);
};

// Logits (B,K,H,W) of a mirrored image -> logits of the image: flipped back
// along W and the paired channels exchanged.
at::Tensor unflip_logits(const at::Tensor& logits, const std::vector<std::pair<int64_t, int64_t>>& pairs);

}  // namespace ovseg::schnet
