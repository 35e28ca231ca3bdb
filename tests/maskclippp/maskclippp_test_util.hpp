// Shared by the MaskCLIP++ tests: a small CLIP geometry, random checkpoints
// in the released MaskCLIP++ layout ({"model": {visual_encoder.proxy.*,
// visual_encoder.mask_logit_scale, psm.*}}), written as torch.save writes them.
#pragma once

#include <doctest/doctest.h>

#include <torch/csrc/jit/serialization/pickle.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <fstream>
#include <string>

#include "ovseg/models/random_clip.hpp"

namespace maskclippp_test {

using ovseg::models::StateDict;

// ViT width 128 (2 heads), 3 blocks, patch 4 at 32 px (an 8x8 grid), embed
// 64; a text tower of width 64 x 2 layers and a 512-token vocabulary.
inline ovseg::models::ClipGeometry geometry() {
  ovseg::models::ClipGeometry g = ovseg::models::clip_geometry_preset("tiny");
  g.vision_width = 128;
  g.vision_heads = 2;
  g.vision_layers = 3;
  g.patch_size = 4;
  g.image_resolution = 32;
  g.embed_dim = 64;
  g.vocab_size = 512;
  return g;
}

// The fixture's configuration: mask tokens from block 2 of 3 (2 mask blocks),
// 3 templates, LinearPSM width 16.
constexpr int64_t kMaskPriorBegin = 2, kTemplates = 3, kCorrWidth = 16;

// What the authors' saved_modules() hold for that configuration (the CLIP
// visual tower under visual_encoder.proxy., the learnable mask bias scale,
// LinearPSM), random and deterministic for `seed`.
inline StateDict random_released_state_dict(uint64_t seed = 7, bool with_text = false) {
  const auto g = geometry();
  StateDict sd;
  for (auto& [k, t] : ovseg::models::make_random_clip_state_dict(g, seed)) {
    if (k.rfind("visual.", 0) == 0)
      sd["visual_encoder.proxy." + k.substr(7)] = t;
    else if (with_text && k != "input_resolution" && k != "context_length" && k != "vocab_size")
      sd["text_encoder." + k] = t;
  }
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed + 1);
  auto normal = [&](std::vector<int64_t> shape, double std, double mean = 0.0) {
    return at::empty(shape).normal_(mean, std, gen);
  };
  sd["visual_encoder.mask_logit_scale"] = normal({g.vision_layers - kMaskPriorBegin + 1, g.vision_heads}, 0.5, 0.5);
  sd["psm.corr_proj_in.0.weight"] = normal({kCorrWidth, kTemplates}, 0.3);
  sd["psm.corr_proj_in.0.bias"] = normal({kCorrWidth}, 0.3);
  sd["psm.corr_proj_out.0.weight"] = normal({1, kCorrWidth}, 0.3);
  sd["psm.corr_proj_out.0.bias"] = normal({1}, 0.3);
  return sd;
}

// torch.save({"model": sd}) as the authors' MaskCorrCheckpointer writes it.
inline void save_released_checkpoint(const std::string& path, const StateDict& sd) {
  c10::impl::GenericDict weights(c10::StringType::get(), c10::TensorType::get());
  for (const auto& [k, v] : sd) weights.insert(k, v.contiguous());
  c10::impl::GenericDict root(c10::StringType::get(), c10::AnyType::get());
  root.insert("model", weights);
  root.insert("iteration", c10::IValue(static_cast<int64_t>(20000)));
  const std::vector<char> bytes = torch::jit::pickle_save(root);
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace maskclippp_test
