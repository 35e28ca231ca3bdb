// Contrastive image-caption training of a CLIP model (the InfoNCE loss of
// Radford et al. 2021: symmetric cross-entropy over the cosine similarities
// of a batch, scaled by a learned temperature clamped at 100), through the
// same ClipModel code the pipelines run.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "ovseg/models/clip_model.hpp"
#include "ovseg/models/clip_tokenizer.hpp"
#include "ovseg/train/trainer.hpp"

namespace ovseg::train {

// An image-caption folder: ROOT/SPLIT/captions.tsv ("ID<TAB>caption" lines)
// and ROOT/SPLIT/images/ID.png (or .jpg), all of one size. `ovseg world`
// writes this layout.
struct ImageCaptionSet {
  std::vector<std::string> ids;
  std::vector<std::string> captions;
  at::Tensor images;  // (N,3,H,W) uint8, RGB
};
// Throws std::runtime_error naming the file and line on a malformed caption
// list, a missing or unreadable image, or an image of another size.
ImageCaptionSet load_image_caption_folder(const std::string& root, const std::string& split);

struct ClipContrastiveOptions {
  int64_t batch = 256;
  uint64_t seed = 0;
  bool horizontal_flip = true;  // flips are label-preserving in the world
};

class ClipContrastiveTask final : public TrainTask {
 public:
  // The model is trained in place (its tensors become leaves with grads).
  ClipContrastiveTask(std::shared_ptr<models::ClipModel> model, const ImageCaptionSet& data,
                      const models::ClipTokenizer& tokenizer, ClipContrastiveOptions options);

  std::vector<std::pair<std::string, at::Tensor>> parameters() override;
  at::Tensor loss(int64_t step) override;
  void after_step(int64_t step) override;

  // The batch indices of a step: consecutive slices of per-epoch shuffles,
  // a function of (seed, step) only.
  std::vector<int64_t> batch_indices(int64_t step);
  float logit_scale() const;  // exp of the learned log temperature
  // The model's OpenAI-layout state dict with the learned logit_scale.
  models::StateDict state_dict() const;

 private:
  std::shared_ptr<models::ClipModel> model_;
  const ImageCaptionSet& data_;
  ClipContrastiveOptions opt_;
  at::Tensor tokens_;  // (N, L): SOT ... EOT 0..., L = longest caption
  at::Tensor logit_scale_log_;
  int64_t cached_epoch_ = -1;
  std::vector<int64_t> permutation_;
};

// Writes the model as fp16 safetensors in the OpenAI key layout (what
// ClipModel::load reads back), with `metadata` (seed, command, ...).
void save_clip_fp16_safetensors(const std::string& path, const models::StateDict& sd,
                                const std::map<std::string, std::string>& metadata);

}  // namespace ovseg::train
