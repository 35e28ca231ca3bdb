// CAT-Seg's CLIP (cat_seg/third_party/model_vpt.py as clip.load(jit=False)
// builds it for CATSegPredictor): its own copy of a CLIP model whose
// attention in-projections are split into q_proj_weight / k_proj_weight /
// v_proj_weight (image and text towers), so that CAT-Seg's "attention"
// fine-tuning trains q and v alone, and
//   - the dense image forward (encode_image(dense=True)): positions resized
//     bicubically to the grid, blocks 0..L-2 as usual, the last block's
//     forward_dense (v path through out_proj, plus the *CLS token* of its
//     input as the residual, then the MLP), ln_post and proj on every token;
//     the outputs of chosen blocks kept for the decoder guidance;
//   - the text forward (encode_text) through the split blocks.
#pragma once

#include <ovseg/sdk.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ovseg/models/clip_model.hpp"

namespace ovseg::catseg {

class CatSegClip {
 public:
  // Deep-copies `model`; the copy's tensors are this object's own.
  explicit CatSegClip(const models::ClipModel& model);

  struct Dense {
    at::Tensor features;             // (B, embed, h, w): ln_post(tokens) @ proj, CLS dropped
    std::vector<at::Tensor> layers;  // per requested block: its output tokens (B, width, h, w), CLS dropped
  };
  // pixels: CLIP-normalised (B,3,H,W). `layers`: block indices whose output
  // feeds the decoder guidance; the last block's index gives its ordinary
  // (non-dense) output (an extension: the authors' forward hook never fires
  // on the dense last block, so their configs pick earlier blocks).
  Dense encode_image_dense(const at::Tensor& pixels, const std::vector<int64_t>& layers) const;
  // token ids (K, L) -> (K, embed), not normalised.
  at::Tensor encode_text(const at::Tensor& ids) const;

  const models::ClipGeometry& geometry() const { return model_->geometry(); }
  // Every tensor under its name in the authors' clip_model state dict
  // ("visual.transformer.resblocks.0.attn.q_proj_weight", "transformer.resblocks.0.attn.v_proj_weight", ...).
  std::vector<std::pair<std::string, at::Tensor>> tensors();
  void to(at::Device device);

 private:
  std::shared_ptr<models::ClipModel> model_;
  std::vector<models::ResidualBlockWeights> text_blocks_;  // split copies
};

}  // namespace ovseg::catseg
