// ESC-Net's pieces (Lee et al., "Effective SAM Combination for
// Open-Vocabulary Semantic Segmentation", CVPR 2025; no public code):
//   - the pseudo-prompt generator: per-class correlation -> softmax over
//     classes -> threshold -> k-means on the above-threshold cells' (y, x)
//     -> a point per region (its peak) and a mask (the regions of the class);
//   - SAM's prompt encoder (points, masks) and the two-way blocks of SAM's
//     mask decoder, run per class on the correlation embedding (the "image"
//     side), with SAM's own output tokens plus the class's point tokens as
//     queries; the updated image side returns to the embedding.
// SAM tensors keep SAM's names (prompt_encoder.*, mask_decoder.*), so they
// load from any official-layout SAM state dict (the world SAM here).
// Every choice the paper leaves open is a field of EscOptions.
#pragma once

#include <ovseg/sdk.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Generator.h>

namespace ovseg::catseg {

struct EscOptions {
  double threshold = 0.5;     // on softmax-over-classes probabilities
  double temperature = 0.01;  // softmax(corr / temperature): CLIP's logit scale 100
  int64_t regions = 2;        // k of k-means per class
  int64_t kmeans_iterations = 10;
  bool use_points = true;
  bool use_masks = true;
  double mask_logit = 4.0;  // the mask prompt: +mask_logit inside the regions, -mask_logit outside
  int64_t sam_layers = 2;   // two-way blocks (SAM: 2)
};

// Pseudo prompts of a cost volume corr (B,P,T,H,W) (templates averaged):
// points (B*T, k, 2) normalised (x, y) in [0,1] at cell centres, labels
// (B*T, k) 1 = region peak, -1 = no region; masks (B*T, 1, H, W) in {0,1}.
struct PseudoPrompts {
  at::Tensor points, labels, masks;
};
PseudoPrompts pseudo_prompts(const at::Tensor& corr, const EscOptions& o);

class SamPromptBlock {
 public:
  // Randomly initialised (PyTorch defaults) at SAM width `dim`, MLP width
  // `mlp_dim`, `mask_tokens` output tokens; correlation width `hidden`.
  SamPromptBlock(int64_t hidden, int64_t dim, int64_t mlp_dim, int64_t mask_tokens, const EscOptions& o,
                 at::Generator& gen);
  // Copies every SAM tensor this block has from an official-layout SAM state
  // dict (prompt encoder, the decoder's tokens and two-way layers); a missing
  // tensor or another shape is an error naming `source`, the key and shapes.
  void load_sam(const std::map<std::string, at::Tensor>& sd, const std::string& source);

  // x (B,C,T,H,W) correlation embedding; prompts for its B*T classes.
  // Returns x + out_proj(keys of the two-way blocks).
  at::Tensor forward(const at::Tensor& x, const PseudoPrompts& prompts) const;

  std::vector<std::pair<std::string, at::Tensor>>& tensors() { return tensors_; }
  void to(at::Device device);

 private:
  const at::Tensor& w(const std::string& name) const;
  at::Tensor pe_encoding(const at::Tensor& coords01) const;  // (..., 2) -> (..., dim)
  at::Tensor attention(const std::string& p, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) const;

  int64_t hidden_, dim_, mask_tokens_;
  EscOptions o_;
  std::vector<std::pair<std::string, at::Tensor>> tensors_;
  std::map<std::string, size_t> index_;
};

}  // namespace ovseg::catseg
