// The four parts of a SAM model (internal to libovseg_models). Each knows its
// checkpoint layout (bind), how to read its geometry off a state dict, and
// its forward pass. sam_model.cpp assembles them.
#pragma once

#include <ovseg/models/sam_model.hpp>

#include <memory>
#include <vector>

#include "sam_layers.hpp"

namespace ovseg::models::sam {

// What a SamBlockHook returned for block `block`, checked against the shape
// of the tokens it was given.
const at::Tensor& checked_hook_output(const at::Tensor& out, const at::Tensor& in, int64_t block);

class ImageEncoder {
 public:
  virtual ~ImageEncoder() = default;
  virtual void bind(TensorVisitor& v) = 0;
  // pixels (B,3,S,S) -> (B, embed_dim, g, g); tap outputs as (B,C,h,w).
  // `hook` (may be empty) sees every block's output as (B,h,w,C) and returns
  // what the next block receives; taps record what the hook returned.
  virtual at::Tensor forward(const at::Tensor& pixels, const std::vector<int64_t>& taps,
                             std::vector<at::Tensor>* tap_outputs, const SamBlockHook& hook) const = 0;
};

// ---- segment_anything/modeling/image_encoder.py ImageEncoderViT ----

// Fills g.vit and g.image_size / g.embedding_grid / g.embed_dim from
// "image_encoder.*" tensors.
void infer_vit_geometry(const StateDict& sd, const std::string& source, SamGeometry& g);
std::unique_ptr<ImageEncoder> make_vit_encoder(const SamGeometry& g);

// ---- MobileSAM mobile_sam/modeling/tiny_vit_sam.py TinyViT ----
void infer_tiny_vit_geometry(const StateDict& sd, const std::string& source, const SamOptions& options, SamGeometry& g);
std::unique_ptr<ImageEncoder> make_tiny_vit_encoder(const SamGeometry& g);

// ---- segment_anything/modeling/prompt_encoder.py PromptEncoder ----
class PromptEncoder {
 public:
  explicit PromptEncoder(const SamGeometry& g) : g_(g) {}
  static void infer_geometry(const StateDict& sd, const std::string& source, SamGeometry& g);
  void bind(TensorVisitor& v);
  SamPromptEmbeddings forward(const at::Tensor& points, const at::Tensor& labels, const at::Tensor& boxes,
                              const at::Tensor& masks) const;
  at::Tensor dense_pe() const;  // get_dense_pe()
  at::Device device() const { return gaussian_matrix_.device(); }

 private:
  at::Tensor pe_encoding(const at::Tensor& coords01) const;  // PositionEmbeddingRandom._pe_encoding
  at::Tensor embed_points(const at::Tensor& points, const at::Tensor& labels, bool pad) const;
  at::Tensor embed_boxes(const at::Tensor& boxes) const;
  at::Tensor embed_masks(const at::Tensor& masks) const;

  const SamGeometry& g_;
  at::Tensor gaussian_matrix_;                // (2, C/2) buffer
  std::vector<at::Tensor> point_embeddings_;  // 4 x (1, C): negative, positive, box corner 1, corner 2
  at::Tensor not_a_point_, no_mask_;          // (1, C)
  Conv2d down0_, down3_, down6_;
  LayerNorm2d down1_, down4_;
};

// ---- segment_anything/modeling/mask_decoder.py MaskDecoder + transformer.py ----
class MaskDecoder {
 public:
  explicit MaskDecoder(const SamGeometry& g) : g_(g) {}
  static void infer_geometry(const StateDict& sd, const std::string& source, const SamOptions& options, SamGeometry& g);
  void bind(TensorVisitor& v);
  SamMaskOutput forward(const at::Tensor& image_embeddings, const at::Tensor& image_pe,
                        const SamPromptEmbeddings& prompts, bool multimask_output) const;

  struct Attention {  // transformer.py Attention (with downsample_rate)
    Linear q, k, v, out;
    int64_t heads = 1;
    void bind(TensorVisitor& vis, const std::string& p, int64_t dim, int64_t internal, int64_t heads);
    at::Tensor operator()(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) const;
  };
  struct TwoWayBlock {  // transformer.py TwoWayAttentionBlock
    Attention self_attn, token_to_image, image_to_token;
    LayerNorm norm1, norm2, norm3, norm4;
    Linear lin1, lin2;  // MLPBlock with ReLU
    bool skip_first_layer_pe = false;
  };

 private:
  const SamGeometry& g_;
  std::vector<TwoWayBlock> layers_;
  Attention final_attn_;
  LayerNorm norm_final_;
  at::Tensor iou_token_, mask_tokens_;
  ConvTranspose2d up0_, up3_;
  LayerNorm2d up1_;
  std::vector<Mlp> hypernetworks_;
  Mlp iou_head_;
};

// Walks the full checkpoint layout of a geometry (all three parts) without
// loading anything: the random-checkpoint writer draws each tensor this way.
void visit_sam_layout(const SamGeometry& g, TensorVisitor& v);

}  // namespace ovseg::models::sam
