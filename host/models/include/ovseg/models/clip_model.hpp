#pragma once
// OpenAI CLIP (ViT image tower + causal text transformer) on plain ATen
// tensors, matching openai/CLIP clip/model.py: same parameter names, same
// formulas, geometry inferred from tensor shapes like its build_model().
//
// The image tower is deliberately open: the training-free OVSS methods
// (MaskCLIP, SCLIP, ClearCLIP, NACLIP, CLIPtrase) all re-run the LAST
// residual block their own way, so the forward exposes the tokens entering
// that block, per-block tokens on request, the block weights, and helpers
// computing q/k/v exactly as nn.MultiheadAttention does.
//
// All weights are kept in float32 (fp16/bf16 checkpoints are converted at
// load); LayerNorm therefore runs in float32 as CLIP's LayerNorm subclass does.

#include <ovseg/models/state_dict.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ovseg::models {

// CLIP image normalisation (clip.py _transform), RGB order, on [0,1] pixels.
inline constexpr std::array<float, 3> kClipPixelMean{0.48145466f, 0.4578275f, 0.40821073f};
inline constexpr std::array<float, 3> kClipPixelStd{0.26862954f, 0.26130258f, 0.27577711f};

// (B,3,H,W) float RGB in [0,1] -> (x - mean) / std per channel.
at::Tensor normalize_clip_pixels(const at::Tensor& rgb01);

// mmseg's ImageNet img_norm_cfg on 0-255 pixels (mean 123.675, 116.28,
// 103.53; std 58.395, 57.12, 57.375), which ZegCLIP and CLIP-RC feed their
// CLIP towers instead of CLIP's own statistics: (255 x - mean) / std.
inline constexpr std::array<float, 3> kImageNetPixelMean255{123.675f, 116.28f, 103.53f};
inline constexpr std::array<float, 3> kImageNetPixelStd255{58.395f, 57.12f, 57.375f};
at::Tensor normalize_imagenet_pixels(const at::Tensor& rgb01);

struct ClipGeometry {
  int64_t vision_width = 0;      // visual.conv1.weight.shape[0]
  int64_t vision_layers = 0;     // number of visual.transformer.resblocks.N
  int64_t vision_heads = 0;      // vision_width / 64
  int64_t patch_size = 0;        // visual.conv1.weight.shape[-1]
  int64_t image_resolution = 0;  // patch_size * grid (pretraining resolution)
  int64_t embed_dim = 0;         // text_projection.shape[1]
  int64_t context_length = 0;    // positional_embedding.shape[0]
  int64_t vocab_size = 0;        // token_embedding.weight.shape[0]
  int64_t text_width = 0;        // ln_final.weight.shape[0]
  int64_t text_heads = 0;        // text_width / 64
  int64_t text_layers = 0;       // number of transformer.resblocks.N

  int64_t grid() const { return patch_size ? image_resolution / patch_size : 0; }
  std::string describe() const;  // "ViT width 768 x 12 layers, patch 16, ..."
  bool operator==(const ClipGeometry& o) const;
};

// Published shapes: "ViT-B/32", "ViT-B/16", "ViT-L/14", "ViT-L/14@336", and
// "tiny" (width 64, 2+2 layers, patch 16, 64 px, embed 32, context 77, the full
// 49408-token vocabulary so the real tokenizer's ids fit), and "world", the
// embedded default (vision width 128 x 2 layers, patch 8, 64 px; text width
// 64 x 4 layers; embed 64; full vocabulary). Throws on unknown.
ClipGeometry clip_geometry_preset(const std::string& name);

// Infers the geometry from an OpenAI-layout state dict like build_model().
// Throws CheckpointError naming `source_name` on a missing/inconsistent tensor
// or a ModifiedResNet (RN50...) visual tower, which is not supported.
ClipGeometry infer_clip_geometry(const StateDict& sd, const std::string& source_name);

// Weights of one ResidualAttentionBlock (ln_1, attn, ln_2, mlp), float32.
struct ResidualBlockWeights {
  at::Tensor ln1_w, ln1_b;
  at::Tensor in_proj_w, in_proj_b;    // (3C, C), (3C): rows q | k | v
  at::Tensor out_proj_w, out_proj_b;  // (C, C), (C)
  at::Tensor ln2_w, ln2_b;
  at::Tensor fc_w, fc_b;      // mlp.c_fc   (4C, C)
  at::Tensor proj_w, proj_b;  // mlp.c_proj (C, 4C)
  int64_t heads = 1;
  int64_t width() const { return ln1_w.size(0); }
  int64_t head_dim() const { return width() / heads; }

  // For training a subset of the attention projections (CAT-Seg fine-tunes
  // only q and v): the q | k | v rows of in_proj_w as three separate tensors,
  // named as CAT-Seg's CLIP names them (attn.q_proj_weight, k_proj_weight,
  // v_proj_weight). After split_in_proj() in_proj_w is undefined and the
  // packed matrix is rebuilt from the three on every use, so gradients reach
  // each of them separately.
  at::Tensor q_w, k_w, v_w;
  void split_in_proj();
  bool is_split() const { return q_w.defined(); }
  at::Tensor in_proj_weight() const;                  // (3C, C)
  at::Tensor projection_weight(int64_t which) const;  // 0 = q, 1 = k, 2 = v: (C, C)
};

// ---- building blocks, exactly as openai/CLIP + nn.MultiheadAttention ----
at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b);  // eps 1e-5
at::Tensor quick_gelu(const at::Tensor& x);                                            // x * sigmoid(1.702 x)

struct QKV {
  at::Tensor q, k, v;  // (B, heads, N, head_dim); q NOT yet scaled
};
// x_ln1: (B,N,C) tokens already passed through ln_1.
QKV block_qkv(const ResidualBlockWeights& blk, const at::Tensor& x_ln1);
// (B,heads,N,d) -> (B,N,heads*d)
at::Tensor merge_heads(const at::Tensor& x);
// Attention output projection: (B,N,C) -> out_proj(x).
at::Tensor block_out_proj(const ResidualBlockWeights& blk, const at::Tensor& x);
// Standard multi-head self-attention of one block including out_proj:
// softmax(q k^T / sqrt(d) + mask) v. `mask` (N,N) additive, may be undefined.
at::Tensor block_attention(const ResidualBlockWeights& blk, const at::Tensor& x_ln1,
                           const at::Tensor& mask = at::Tensor());
// mlp: c_proj(quick_gelu(c_fc(x))), on x already passed through ln_2.
at::Tensor block_mlp(const ResidualBlockWeights& blk, const at::Tensor& x_ln2);
// x + attn(ln_1(x)); then x + mlp(ln_2(x)). x: (B,N,C).
at::Tensor residual_block_forward(const ResidualBlockWeights& blk, const at::Tensor& x,
                                  const at::Tensor& mask = at::Tensor());

// Positional embedding (1+g*g, C) resampled to a (h, w) patch grid: the grid
// part is reshaped to (1,C,g,g), resized bicubically (align_corners=false, as
// SCLIP/NACLIP do; `bilinear` as ZegCLIP/CLIP-RC do) and flattened back
// row-major; the CLS row is kept. Returns the input unchanged when (h,w) ==
// (g,g) (both resizes are the identity there).
at::Tensor interpolate_positional_embedding(const at::Tensor& pos, int64_t h, int64_t w, bool bilinear = false);

// ---- the image tower with tokens of one's own (the hook methods such as
// VPT / CLIP-RC prompts and region tokens use; see ClipModel::embed_image and
// run_vision_blocks). The defaults are openai/CLIP's forward. ----
struct ImageEmbedOptions {
  // A positional embedding (1+g*g, C) to use instead of the model's, e.g. one
  // resized once to a training resolution (ZegCLIP / CLIP-RC resize CLIP's
  // 14x14 grid to 32x32 at load, then to each image's grid).
  at::Tensor positional_embedding;
  // Resample positions to the image's grid bilinearly (ZegCLIP, CLIP-RC)
  // instead of bicubically.
  bool bilinear_positions = false;
  // ZegCLIP's / CLIP-RC's forward adds class_embedding to the CLS position
  // too (cls_pos = pos[0] + class_embedding), so their CLS token carries it
  // twice. Off in openai/CLIP.
  bool class_embedding_in_cls_position = false;
  // Tokens appended after the patch tokens before ln_pre, (R,C) or (B,R,C):
  // CLIP-RC's region-level bridge tokens. Undefined: none.
  at::Tensor appended_tokens;
};

// Called before block `block` runs, with the tokens entering it (B,N,C);
// returns the sequence the block runs on: VPT prompt tokens are inserted
// after the CLS token before block 0 and replaced before later blocks this way.
using VisionBlockHook = std::function<at::Tensor(int64_t block, const at::Tensor& tokens)>;

struct VisionForward {
  std::vector<at::Tensor> block_tokens;  // output of each block (B,1+h*w,C), if requested
  at::Tensor embedded;                   // after patch embed + pos + ln_pre: input to block 0
  at::Tensor penultimate;                // input to the last block (B,1+h*w,C)
  at::Tensor final_tokens;               // output of the last block, before ln_post (undefined if not run)
  int64_t grid_h = 0, grid_w = 0;
};

// Forward methods are const and thread-compatible. They record autograd
// only if the weights require grad; inference callers may hold a
// c10::InferenceMode guard to skip autograd bookkeeping altogether.
class ClipModel {
 public:
  // Takes an OpenAI-layout state dict (see clip_checkpoint.hpp for other
  // layouts). Validates every tensor's presence and shape against the inferred
  // geometry; errors name `source_name` and the tensor. Extra keys are ignored.
  static std::shared_ptr<ClipModel> from_state_dict(StateDict sd, const std::string& source_name);
  // Loads any supported checkpoint file (format detected by content, key
  // layout mapped to OpenAI's) and builds the model.
  static std::shared_ptr<ClipModel> load(const std::string& path);

  const ClipGeometry& geometry() const { return geom_; }
  const std::string& source_name() const { return source_; }

  // ---- image tower; pixels: (B,3,H,W) float, CLIP-normalised, H and W
  // multiples of the patch size (any size: positions are interpolated) ----
  // Patch embedding + CLS + (interpolated) positions (+ appended tokens) + ln_pre.
  at::Tensor embed_image(const at::Tensor& pixels, int64_t* grid_h, int64_t* grid_w,
                         const ImageEmbedOptions& options = {}) const;
  // Runs blocks [begin, end) on tokens x (B,N,C).
  at::Tensor run_vision_blocks(const at::Tensor& x, int64_t begin, int64_t end) const;
  // The same with an additive attention mask (N,N) every block applies
  // (undefined = none; -inf hides a key from a query) and `hook` rewriting
  // the sequence before each block (may be empty). The mask must match the
  // length of the sequence each block runs on.
  at::Tensor run_vision_blocks(const at::Tensor& x, int64_t begin, int64_t end, const at::Tensor& attn_mask,
                               const VisionBlockHook& hook = {}) const;
  // Full token forward. keep_all_blocks: fill block_tokens. run_last_block:
  // false stops before the last block (what refinement plugins need).
  VisionForward encode_image_tokens(const at::Tensor& pixels, bool keep_all_blocks = false,
                                    bool run_last_block = true) const;
  // ln_post then @ proj on every token: (B,N,C) -> (B,N,embed).
  at::Tensor project_tokens(const at::Tensor& tokens) const;
  // Pooled image embedding (B,embed): ln_post(CLS) @ proj (not normalised).
  at::Tensor encode_image(const at::Tensor& pixels) const;
  // Dense patch features (B,h*w,embed): ln_post(patch tokens) @ proj.
  at::Tensor dense_features(const at::Tensor& pixels, int64_t* grid_h = nullptr, int64_t* grid_w = nullptr) const;

  // ---- text tower; token_ids: (K,L) int64, L <= context_length, EOT token
  // has the largest id (CLIP's tokenizer guarantees it) ----
  at::Tensor encode_text(const at::Tensor& token_ids) const;  // (K,embed), not normalised

  // ---- weights ----
  const ResidualBlockWeights& vision_block(int64_t i) const;
  const ResidualBlockWeights& last_vision_block() const { return vision_block(geom_.vision_layers - 1); }
  const ResidualBlockWeights& text_block(int64_t i) const;
  at::Tensor class_embedding, vision_positional_embedding, conv1_w, ln_pre_w, ln_pre_b;
  at::Tensor ln_post_w, ln_post_b, visual_proj;  // visual_proj: (width, embed)
  at::Tensor token_embedding, text_positional_embedding, ln_final_w, ln_final_b, text_projection;
  float logit_scale = 0.f;  // the stored log value is exp()'d: CLIP's logit_scale.exp()

  at::Device device() const { return conv1_w.device(); }
  void to(at::Device device);
  // A deep copy (its own tensors): a stage that trains or loads weights into
  // a model works on its own copy, not on the one shared by other nodes.
  std::shared_ptr<ClipModel> clone() const;
  // Every vision-tower tensor by its OpenAI name ("visual.conv1.weight",
  // "visual.transformer.resblocks.0.attn.in_proj_bias", ...), pointing at
  // this model's storage. With the blocks' in_proj split (split_vision_in_proj)
  // the packed weight appears as its q_proj_weight / k_proj_weight /
  // v_proj_weight rows.
  std::vector<std::pair<std::string, at::Tensor>> vision_tensors();
  void split_vision_in_proj();
  // OpenAI-layout state dict of this model (float32), e.g. to re-save it.
  StateDict state_dict() const;

 private:
  ClipModel() = default;
  at::Tensor encode_text_columns(const at::Tensor& ids, const at::Tensor& eot) const;
  ClipGeometry geom_;
  std::string source_;
  float logit_scale_log_ = 0.f;
  std::vector<ResidualBlockWeights> vision_blocks_, text_blocks_;
};

}  // namespace ovseg::models
