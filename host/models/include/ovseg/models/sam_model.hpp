#pragma once
// Segment Anything (facebookresearch/segment-anything) and MobileSAM
// (ChaoningZhang/MobileSAM) on plain ATen ops: the ViT-B/L/H image encoder,
// MobileSAM's TinyViT encoder, the prompt encoder and the mask decoder, with
// the official state-dict key names and the reference's formulas (each source
// file cites the Python function it follows).
//
// Geometry is read off tensor shapes, as segment_anything's build_sam.py
// would have to be told it: encoder width/depth/heads from the relative
// position tables, global-attention blocks from their table length, image
// size from pos_embed, decoder widths from its weights. What no shape
// records is a documented constant in SamOptions (override it there, or in a
// safetensors file's metadata under the keys listed below).
//
// Weights are float32. Forward methods are const; they record autograd only
// when the weights require grad (the world-SAM trainer), and callers may hold
// a c10::InferenceMode guard. Pre/post-processing (ResizeLongestSide,
// normalisation, padding, masks back to the image) is in sam_predictor.hpp.

#include <ovseg/models/state_dict.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ovseg::models {

// Constants of segment_anything's build_sam.py that no tensor shape records.
inline constexpr int64_t kSamDecoderHeads = 8;         // TwoWayTransformer(num_heads=8)
inline constexpr int64_t kSamTinyViTImageSize = 1024;  // MobileSAM build_sam_vit_t(img_size=1024)
inline constexpr double kSamMaskThreshold = 0.0;       // Sam.mask_threshold
// Sam's pixel_mean / pixel_std (RGB, on 0..255 values).
inline constexpr double kSamPixelMean[3] = {123.675, 116.28, 103.53};
inline constexpr double kSamPixelStd[3] = {58.395, 57.12, 57.375};

// Overrides for what the checkpoint cannot tell (0 / empty = the constant).
// safetensors metadata keys: "ovseg.sam.decoder_heads", "ovseg.sam.image_size"
// (TinyViT), "ovseg.sam.merge_strides" (TinyViT, comma separated).
struct SamOptions {
  int64_t decoder_heads = 0;                    // kSamDecoderHeads
  int64_t tiny_vit_image_size = 0;              // kSamTinyViTImageSize
  std::vector<int64_t> tiny_vit_merge_strides;  // MobileSAM: 2 for every PatchMerging but the last, which has 1
};

enum class SamEncoderType { ViT, TinyViT };

// segment_anything ImageEncoderViT.
struct SamViTGeometry {
  int64_t image_size = 0;              // pos_embed grid * patch size (1024)
  int64_t patch_size = 0;              // patch_embed.proj kernel (16)
  int64_t width = 0;                   // embed_dim (768 / 1024 / 1280)
  int64_t depth = 0;                   // number of blocks (12 / 24 / 32)
  int64_t heads = 0;                   // width / rel_pos head dim (12 / 16 / 16)
  int64_t mlp_dim = 0;                 // mlp.lin1 rows (4 * width)
  int64_t window = 0;                  // windowed blocks' window, from their rel_pos length 2w-1 (14)
  std::vector<int64_t> global_blocks;  // blocks attending globally (ViT-B: 2, 5, 8, 11)
  bool qkv_bias = true;
  int64_t grid() const { return patch_size ? image_size / patch_size : 0; }
};

// MobileSAM TinyViT (tiny_vit_sam.py). Stage 0 is a ConvLayer of MBConv
// blocks, stages 1.. are TinyViT attention blocks; a PatchMerging follows
// every stage but the last.
struct SamTinyViTGeometry {
  int64_t image_size = 0;                          // not in the checkpoint (SamOptions)
  std::vector<int64_t> widths;                     // per stage (64, 128, 160, 320)
  std::vector<int64_t> depths;                     // blocks per stage (2, 2, 6, 2)
  std::vector<int64_t> heads;                      // per stage, 0 for stage 0 (-, 4, 5, 10)
  std::vector<int64_t> windows;                    // per stage, 0 for stage 0 (-, 7, 14, 7)
  std::vector<int64_t> mlp_dims;                   // per stage, 0 for stage 0 (mlp.fc1 rows)
  std::vector<int64_t> merge_strides;              // per PatchMerging (2, 2, 1)
  int64_t mbconv_hidden = 0;                       // MBConv expansion width (4 * widths[0])
  int64_t local_conv = 3;                          // depthwise conv between attention and MLP
  int64_t classifier_classes = 0;                  // head rows (1000), 0 when absent; unused by SAM
  std::vector<int64_t> stage_resolutions() const;  // input grid side of each stage
  int64_t grid() const;                            // output grid side (64 at 1024 px)
  int64_t num_blocks() const;                      // all MBConv + attention blocks
};

struct SamGeometry {
  SamEncoderType encoder = SamEncoderType::ViT;
  SamViTGeometry vit;           // when encoder == ViT
  SamTinyViTGeometry tiny_vit;  // when encoder == TinyViT
  int64_t image_size = 0;       // encoder input side: ResizeLongestSide target (1024)
  int64_t embedding_grid = 0;   // image embedding side (64)
  int64_t embed_dim = 0;        // neck output = prompt / decoder width (256)
  // prompt encoder
  int64_t mask_in_chans = 0;  // mask_downscaling width (16)
  // mask decoder
  int64_t decoder_depth = 0;                                   // two-way transformer layers (2)
  int64_t decoder_heads = 0;                                   // kSamDecoderHeads unless overridden
  int64_t decoder_mlp_dim = 0;                                 // (2048)
  int64_t attention_downsample = 0;                            // cross-attention width divisor (2)
  int64_t num_mask_tokens = 0;                                 // 1 + multimask outputs (4)
  int64_t iou_head_depth = 0, iou_head_hidden = 0;             // (3, 256)
  int64_t low_res_size() const { return 4 * embedding_grid; }  // decoder mask side (256)
  int64_t encoder_blocks() const;                              // valid tap indices are 0 .. encoder_blocks()-1
  std::string describe() const;                                // one line
};

// A per-block hook into the image encoder, so a trained stage can inject
// features between encoder stages (SCHNet's semantic refinement and
// fine-tuning modules). Called after encoder block `block` (the numbering of
// `taps`) with that block's output tokens as (B, h, w, C) channels-last (the
// layout SAM's ViT blocks pass on); it returns what the next block (or the
// neck, after the last) receives: the tokens themselves, a sum, or a
// replacement of the same shape. Without a hook the encoder runs exactly as
// before (bit-identical: tests/sam).
using SamBlockHook = std::function<at::Tensor(int64_t block, const at::Tensor& tokens)>;

// Prompt-encoder outputs (PromptEncoder.forward).
struct SamPromptEmbeddings {
  at::Tensor sparse;  // (B, tokens, C)
  at::Tensor dense;   // (B, C, g, g)
};

// Mask-decoder outputs (MaskDecoder.forward).
struct SamMaskOutput {
  at::Tensor low_res_masks;    // (B, M, 4g, 4g) logits, M = 1 or num_mask_tokens - 1
  at::Tensor iou_predictions;  // (B, M)
};

class SamModel {
 public:
  // A Sam state dict in the official layout ("image_encoder.*",
  // "prompt_encoder.*", "mask_decoder.*"; a ViT or a TinyViT encoder).
  // Every tensor's presence and shape is checked against the inferred
  // geometry; errors name `source_name` and the tensor. Extra keys are ignored.
  static std::shared_ptr<SamModel> from_state_dict(const StateDict& sd, const std::string& source_name,
                                                   const SamOptions& options = {});
  // Any supported checkpoint file: the official sam_vit_{b,l,h}_*.pth,
  // MobileSAM's mobile_sam.pt, safetensors (whose metadata may carry
  // SamOptions values; explicit `options` win).
  static std::shared_ptr<SamModel> load(const std::string& path, const SamOptions& options = {});
  ~SamModel();

  const SamGeometry& geometry() const;
  const std::string& source_name() const;

  // ---- image encoder: (B,3,S,S) normalised, padded pixels (S = image_size)
  // -> image embeddings (B, embed_dim, g, g). `taps` lists encoder block
  // indices whose outputs are returned in `tap_outputs` as (B, C, h, w), in
  // the order given. ----
  at::Tensor encode_image(const at::Tensor& pixels, const std::vector<int64_t>& taps = {},
                          std::vector<at::Tensor>* tap_outputs = nullptr) const;
  // The same with `hook` called after every encoder block (see SamBlockHook);
  // taps then record the hook's returned tokens. A hook returning a tensor of
  // another shape is an error naming the block and both shapes.
  at::Tensor encode_image(const at::Tensor& pixels, const SamBlockHook& hook, const std::vector<int64_t>& taps = {},
                          std::vector<at::Tensor>* tap_outputs = nullptr) const;

  // ---- prompt encoder; coordinates in the encoder's input frame (the
  // S x S padded image), pixels (x, y). points (B,N,2) + labels (B,N) int
  // (1 foreground, 0 background, -1 padding), boxes (B,4), masks (B,1,4g,4g);
  // any may be undefined. As PromptEncoder.forward, points get a padding
  // point when no box is given. ----
  SamPromptEmbeddings encode_prompts(const at::Tensor& points, const at::Tensor& labels, const at::Tensor& boxes,
                                     const at::Tensor& masks) const;
  // PromptEncoder.get_dense_pe(): (1, C, g, g).
  at::Tensor dense_positional_encoding() const;

  // ---- mask decoder: one image's embeddings (1,C,g,g) and B prompts ----
  SamMaskOutput decode_masks(const at::Tensor& image_embeddings, const SamPromptEmbeddings& prompts,
                             bool multimask_output) const;

  at::Device device() const;
  void to(at::Device device);
  // The official-layout state dict: the very tensors the model runs (so a
  // trainer can optimise them in place), BatchNorm counters included.
  StateDict state_dict() const;
  // Names of the tensors that are buffers in the Python modules (BatchNorm
  // statistics, the random-Fourier matrix): saved, never trained.
  std::vector<std::string> buffer_names() const;

  struct Impl;

 private:
  SamModel();
  std::unique_ptr<Impl> impl_;
};

// Geometry of a state dict without building the model (`ovseg models`,
// tests). Same errors as from_state_dict.
SamGeometry infer_sam_geometry(const StateDict& sd, const std::string& source_name, const SamOptions& options = {});

// Whether a state dict looks like a SAM checkpoint (has "image_encoder." and
// "mask_decoder." keys).
bool is_sam_state_dict(const StateDict& sd);

}  // namespace ovseg::models
