// Shared by the CAT-Seg tests: a small random CLIP, a random CAT-Seg
// checkpoint in the released detectron2 layout ({"model": state_dict} with
// sem_seg_head.predictor.{clip_model,transformer}.* and upsample{1,2}.*),
// the plugin catalog and the stage's parameters for one configuration.
#pragma once

#include <doctest/doctest.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "built_plugins.hpp"
#include "ovseg/host/plugin_loader.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/models/random_clip.hpp"
#include "ovseg/sdk/stage.hpp"

namespace catseg_test {

using ovseg::models::StateDict;

using ovseg_test::catalog;

inline const std::string kBpe = OVSEG_SOURCE_DIR "/host/models/embedded/bpe_simple_vocab_16e6.txt.gz";

// ViT-B/16's layout narrowed: width 128 (2 heads) x 12 blocks, patch 16,
// pretrained at 224 px (a 14x14 position grid, which CAT-Seg's 384 px input
// resizes to 24x24, as for ViT-B/16); embed 64; text tower width 64 x 2
// blocks with the full vocabulary (the real tokenizer's ids). The authors'
// CATSeg hard-codes ViT-B/16's 24x24 grid and guidance blocks 3 and 7, so the
// parity model keeps those.
inline ovseg::models::ClipGeometry geometry() {
  ovseg::models::ClipGeometry g = ovseg::models::clip_geometry_preset("tiny");
  g.vision_width = 128;
  g.vision_heads = 2;
  g.vision_layers = 12;
  g.patch_size = 16;
  g.image_resolution = 224;
  g.embed_dim = 64;
  return g;
}

// A CAT-Seg configuration (the aggregator's and the stage's settings).
struct Variant {
  std::string name;
  int64_t pad_len = 8;  // 5 classes: padded (8) or truncated (3)
};
inline Variant padded_variant() { return {"padded", 8}; }
inline Variant truncated_variant() { return {"truncated", 3}; }

inline const std::vector<std::string>& class_names() {
  static const std::vector<std::string> n = {"cat", "dog, puppy", "red car", "tree", "sky"};
  return n;
}

// The stage's parameters for `v` on CLIP file `clip` (and CAT-Seg file `ckpt`, if any).
inline std::map<std::string, ovseg::ParamValue> stage_params(const Variant& v, const std::string& clip,
                                                             const std::string& ckpt = "") {
  return {{"model", clip},
          {"checkpoint", ckpt},
          {"class_names", class_names()},
          {"bpe_vocab", kBpe},
          {"clip_resolution", int64_t{384}},
          {"guidance_layers", std::vector<int64_t>{3, 7}},
          {"hidden_dim", int64_t{32}},
          {"num_layers", int64_t{2}},
          {"num_heads", int64_t{4}},
          {"text_guidance_proj_dim", int64_t{16}},
          {"appearance_guidance_proj_dim", int64_t{16}},
          {"decoder_dims", std::vector<int64_t>{32, 16}},
          {"decoder_guidance_dims", std::vector<int64_t>{32, 16}},
          {"decoder_guidance_proj_dims", std::vector<int64_t>{16, 8}},
          {"window_size", int64_t{12}},
          {"pad_len", v.pad_len}};
}

// Writes `sd` as detectron2's checkpointer does: {"model": state_dict, "iteration": n}.
inline void save_detectron2_checkpoint(const std::string& path, const StateDict& sd) {
  c10::impl::GenericDict weights(c10::StringType::get(), c10::TensorType::get());
  for (const auto& [k, t] : sd) weights.insert(k, t.detach().contiguous());
  c10::impl::GenericDict root(c10::StringType::get(), c10::AnyType::get());
  root.insert("model", weights);
  root.insert("iteration", int64_t{79999});
  const std::vector<char> bytes = torch::jit::pickle_save(root);
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The random CLIP of geometry() in OpenAI's layout.
inline StateDict random_clip(uint64_t seed = 11) {
  return ovseg::models::make_random_clip_state_dict(geometry(), seed);
}

// A random CAT-Seg checkpoint for `v`: the stage's own tensor list, named as
// the released file names them, every value redrawn from `seed` (norm
// weights around 1, padding tokens and biases non-zero so every path is
// busy), plus the shifted Swin blocks' attn_mask buffers and CLIP's
// logit_scale as the authors' state_dict has them. `clip_file` gives the
// CLIP geometry.
inline StateDict random_catseg_state_dict(const Variant& v, const std::string& clip_file, uint64_t seed = 5) {
  auto stage = ovseg::create_stage(catalog(), "catseg", stage_params(v, clip_file));
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  StateDict sd;
  const StateDict clip = ovseg::models::load_state_dict(clip_file);
  for (const auto& t : stage->parameters()) {
    const std::string key = t.name.rfind("upsample", 0) == 0 ? t.name : "sem_seg_head.predictor." + t.name;
    at::Tensor x;
    if (t.name.rfind("clip_model.", 0) == 0) {
      x = t.tensor.detach().clone();  // the random CLIP's own values (q/k/v split)
    } else if (t.tensor.dim() == 1 &&
               (t.name.find("norm") != std::string::npos || t.name.find("double_conv.1.") != std::string::npos ||
                t.name.find("double_conv.4.") != std::string::npos)) {
      x = (t.name.find(".weight") != std::string::npos ? 1.0 : 0.0) +
          0.1 * at::empty(t.tensor.sizes()).normal_(0, 1, gen);
    } else if (t.name.find("padding") != std::string::npos) {
      x = 0.5 * at::empty(t.tensor.sizes()).normal_(0, 1, gen);
    } else {
      const int64_t fan_in = t.tensor.dim() >= 2 ? t.tensor.numel() / t.tensor.size(0) : 10;
      x = at::empty(t.tensor.sizes()).normal_(0, 1.0 / std::sqrt(static_cast<double>(fan_in)), gen);
      if (t.tensor.dim() == 1) x = x * 3.0;  // biases ~0.3
    }
    sd[key] = x.contiguous();
  }
  sd["sem_seg_head.predictor.clip_model.logit_scale"] = clip.at("logit_scale").clone();
  // SwinTransformerBlock registers attn_mask (shifted blocks): 24x24 grid,
  // window 12, shift 6 -> (4 windows, 144, 144).
  for (int i = 0; i < 2; ++i) {
    at::Tensor img = at::zeros({24, 24});
    const int64_t b[4] = {0, 12, 18, 24};
    float cnt = 0;
    for (int h = 0; h < 3; ++h)
      for (int w = 0; w < 3; ++w, ++cnt) img.slice(0, b[h], b[h + 1]).slice(1, b[w], b[w + 1]).fill_(cnt);
    at::Tensor mw = img.view({2, 12, 2, 12}).permute({0, 2, 1, 3}).reshape({4, 144});
    at::Tensor m = mw.unsqueeze(1) - mw.unsqueeze(2);
    sd["sem_seg_head.predictor.transformer.layers." + std::to_string(i) + ".swin_block.block_2.attn_mask"] = at::where(
        m != 0, at::full({}, -100.0f), at::zeros({}));
  }
  return sd;
}

// max |a - b| / max |b|.
inline double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor bd = b.to(at::kDouble);
  return ((a.to(at::kDouble) - bd).abs().max() / bd.abs().max()).item<double>();
}

}  // namespace catseg_test
