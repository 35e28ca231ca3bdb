// Shared by the CLIP-RC tests: small random checkpoints in the released
// layout (an mmseg state dict: backbone.*, text_encoder.*, decode_head.*),
// the plugin catalog, and pipelines over them.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "built_plugins.hpp"
#include "ovseg/host/plugin_loader.hpp"
#include "ovseg/models/random_clip.hpp"

namespace cliprc_test {

using ovseg::models::StateDict;

using ovseg_test::catalog;

// A configuration of the authors' backbone and head.
struct Variant {
  std::string name;
  int64_t prompts = 5;      // num_tokens
  bool deep = true;         // total_d_layer = layers - 1 (else 0)
  int64_t regions = 16;     // region_level_bridge_size
  int64_t head_layers = 3;  // num_layers
};

// The parity fixtures' configurations (the variants the fixtures were computed for; see test_cliprc_parity.cpp).
inline Variant deep_variant() { return {"deep", 5, true, 16, 3}; }
inline Variant shallow_variant() { return {"shallow", 5, false, 4, 3}; }

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

// Every tensor the authors' CLIPRC (backbone, text encoder, decode head with
// embed_dims = in_channels = embed) has for `v`, under its state-dict name;
// random (deterministic for `seed`) at scales that keep every path busy.
inline StateDict random_cliprc_state_dict(const Variant& v, uint64_t seed = 7) {
  const auto g = geometry();
  const int64_t W = g.vision_width, D = g.embed_dim, L = g.vision_layers;
  StateDict sd;
  for (auto& [k, t] : ovseg::models::make_random_clip_state_dict(g, seed)) {
    if (k == "logit_scale" || k == "input_resolution" || k == "context_length" || k == "vocab_size") continue;
    sd[k.rfind("visual.", 0) == 0 ? "backbone." + k.substr(7) : "text_encoder." + k] = t;
  }
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed + 1);
  auto normal = [&](std::vector<int64_t> shape, double std, double mean = 0.0) {
    return at::empty(shape).normal_(mean, std, gen);
  };
  sd["backbone.region_level_bridge"] = normal({v.regions, W}, 0.5);
  sd["backbone.prompt_embeddings"] = normal({1, v.prompts, W}, 0.5);
  if (v.deep) sd["backbone.deep_prompt_embeddings"] = normal({L - 1, v.prompts, W}, 0.5);
  sd["backbone.prompt_proj.weight"] = normal({W, W}, 0.1);
  sd["backbone.prompt_proj.bias"] = normal({W}, 0.1);
  sd["backbone.prompt_norm.weight"] = normal({W}, 0.1, 1.0);
  sd["backbone.prompt_norm.bias"] = normal({W}, 0.1);
  auto linear = [&](const std::string& name, int64_t in, int64_t out) {
    sd[name + ".weight"] = normal({out, in}, 1.0 / std::sqrt(static_cast<double>(in)));
    sd[name + ".bias"] = normal({out}, 0.1);
  };
  auto norm = [&](const std::string& name) {
    sd[name + ".weight"] = normal({D}, 0.1, 1.0);
    sd[name + ".bias"] = normal({D}, 0.1);
  };
  auto layer = [&](const std::string& p) {  // TPN_DecoderLayer (nn.TransformerDecoderLayer + Attention)
    sd[p + "self_attn.in_proj_weight"] = normal({3 * D, D}, 0.1);
    sd[p + "self_attn.in_proj_bias"] = normal({3 * D}, 0.1);
    linear(p + "self_attn.out_proj", D, D);
    for (const char* m : {"q", "k", "v", "proj"}) linear(p + "multihead_attn." + m, D, D);
    linear(p + "linear1", D, 4 * D);
    linear(p + "linear2", 4 * D, D);
    for (const char* n : {"norm1", "norm2", "norm3"}) norm(p + n);
  };
  for (int64_t i = 0; i < v.head_layers; ++i) {
    layer("decode_head.decoder_q.layers." + std::to_string(i) + ".");
    layer("decode_head.decoder_v.layers." + std::to_string(i) + ".");
  }
  layer("decode_head.recovery_decoder.decouple_q.0.");
  layer("decode_head.recovery_decoder.decouple_v.0.");
  linear("decode_head.recovery_decoder.linear_q_in", D, D);
  linear("decode_head.recovery_decoder.linear_k_in", D, D);
  linear("decode_head.recovery_decoder.linear_q_out", D, 2 * D);
  linear("decode_head.recovery_decoder.linear_k_out", D, D);
  linear("decode_head.lateral_proj", 3 * D, D);
  linear("decode_head.q_proj", 2 * D, D);
  return sd;
}

// The nodes of a CLIP-RC pipeline on checkpoint `ckpt` (tower and CLIP-RC
// tensors from the same released file) with class embeddings from `text_npy`.
inline std::string cliprc_nodes(const Variant& v, const std::string& ckpt, const std::string& text_npy,
                                const std::vector<std::string>& classes, const std::string& extra_encoder = "",
                                const std::string& extra_head = "") {
  std::string names;
  for (const auto& c : classes) names += (names.empty() ? "\"" : ", \"") + c + "\"";
  return "[nodes.encoder]\nplugin = \"cliprc_encoder\"\ninputs = { image = \"input.image\" }\nmodel = \"" + ckpt +
         "\"\ncheckpoint = \"" + ckpt + "\"\nprompt_tokens = " + std::to_string(v.prompts) +
         "\ndeep_prompts = " + (v.deep ? "true" : "false") + "\nregion_tokens = " + std::to_string(v.regions) + "\n" +
         extra_encoder + "[nodes.classes]\nplugin = \"class_embeddings\"\nfile = \"" + text_npy +
         "\"\nclass_names = [" + names + "]\nnormalize = false\n" +
         "[nodes.head]\nplugin = \"cliprc_head\"\ninputs = { features = \"encoder.features\", global = "
         "\"encoder.global\", regions = \"encoder.regions\", text = \"classes.embeddings\" }\nchannels = 64\n"
         "checkpoint = \"" +
         ckpt + "\"\nnum_layers = " + std::to_string(v.head_layers) + "\n" + extra_head +
         "[nodes.up]\nplugin = \"resize_logits\"\ninputs = { logits = \"head.logits\", image = \"input.image\" }\n";
}

// max |a - b| / max |b|.
inline double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor bd = b.to(at::kDouble);
  return ((a.to(at::kDouble) - bd).abs().max() / bd.abs().max()).item<double>();
}

}  // namespace cliprc_test
