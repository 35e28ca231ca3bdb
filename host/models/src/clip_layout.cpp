// Key-name mapping between CLIP checkpoint layouts.
//  OpenAI (= open_clip ViT): visual.conv1.weight, visual.transformer.resblocks.N.attn.in_proj_weight, ...
//  Hugging Face CLIPModel:   vision_model.embeddings.patch_embedding.weight,
//                            vision_model.encoder.layers.N.self_attn.q_proj.weight, ...
// HF keeps q/k/v as three Linear layers where nn.MultiheadAttention packs them
// into one in_proj (rows q | k | v), and stores the projections as Linear
// weights (out, in) where OpenAI stores matrices used as x @ proj (in, out).
#include <ovseg/models/clip_checkpoint.hpp>

#include <ovseg/models/checkpoint_io.hpp>

#include <array>
#include <cmath>
#include <set>
#include <utility>

namespace ovseg::models {
namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw CheckpointError("CLIP checkpoint '" + source + "': " + what);
}

at::Tensor as_float(const at::Tensor& t) { return t.is_floating_point() ? t.to(at::kFloat) : t; }

// Whole-name renames between HF and OpenAI (weights and biases alike).
const std::array<std::pair<const char*, const char*>, 9> kHfToOpenAI{{
    {"vision_model.embeddings.class_embedding", "visual.class_embedding"},
    {"vision_model.embeddings.patch_embedding.weight", "visual.conv1.weight"},
    {"vision_model.embeddings.position_embedding.weight", "visual.positional_embedding"},
    {"vision_model.pre_layrnorm.", "visual.ln_pre."},  // sic: HF's spelling
    {"vision_model.post_layernorm.", "visual.ln_post."},
    {"text_model.embeddings.token_embedding.weight", "token_embedding.weight"},
    {"text_model.embeddings.position_embedding.weight", "positional_embedding"},
    {"text_model.final_layer_norm.", "ln_final."},
    {"logit_scale", "logit_scale"},
}};

// Sub-keys inside one residual block (the q/k/v split is handled apart).
const std::array<std::pair<const char*, const char*>, 5> kHfBlockToOpenAI{{
    {"self_attn.out_proj.", "attn.out_proj."},
    {"layer_norm1.", "ln_1."},
    {"layer_norm2.", "ln_2."},
    {"mlp.fc1.", "mlp.c_fc."},
    {"mlp.fc2.", "mlp.c_proj."},
}};

const std::array<std::pair<const char*, const char*>, 2> kHfTowers{{
    {"vision_model.encoder.layers.", "visual.transformer.resblocks."},
    {"text_model.encoder.layers.", "transformer.resblocks."},
}};

// Tensors outside the residual blocks that a HF CLIPModel must have; checked
// up front so a missing one is reported under the name the user's file uses.
const char* const kHfRequired[] = {"vision_model.embeddings.class_embedding",
                                   "vision_model.embeddings.patch_embedding.weight",
                                   "vision_model.embeddings.position_embedding.weight",
                                   "vision_model.pre_layrnorm.weight",
                                   "vision_model.pre_layrnorm.bias",
                                   "vision_model.post_layernorm.weight",
                                   "vision_model.post_layernorm.bias",
                                   "visual_projection.weight",
                                   "text_model.embeddings.token_embedding.weight",
                                   "text_model.embeddings.position_embedding.weight",
                                   "text_model.final_layer_norm.weight",
                                   "text_model.final_layer_norm.bias",
                                   "text_projection.weight",
                                   "logit_scale"};

StateDict hf_to_openai(StateDict sd, const std::string& source) {
  for (const char* key : kHfRequired)
    if (!sd.count(key))
      fail(source,
           std::string("missing tensor '") + key + "' (Hugging Face CLIPModel layout" +
               (std::string(key).compare(0, 11, "text_model.") == 0 || std::string(key) == "text_projection.weight"
                    ? "; vision-only checkpoints are not supported)"
                    : ")"));
  StateDict out;
  // q/k/v pieces per OpenAI block prefix: [weight|bias][q|k|v]
  std::map<std::string, std::array<std::array<at::Tensor, 3>, 2>> qkv;
  for (auto& kv : sd) {
    const std::string& k = kv.first;
    if (ends_with(k, "position_ids")) continue;  // HF buffers, not weights
    bool done = false;
    for (const auto& r : kHfToOpenAI) {
      if (starts_with(k, r.first)) {
        out[r.second + k.substr(std::string(r.first).size())] = as_float(kv.second);
        done = true;
        break;
      }
    }
    if (done) continue;
    if (k == "visual_projection.weight") {
      out["visual.proj"] = as_float(kv.second).t().contiguous();
      continue;
    }
    if (k == "text_projection.weight") {
      out["text_projection"] = as_float(kv.second).t().contiguous();
      continue;
    }
    for (const auto& tower : kHfTowers) {
      if (!starts_with(k, tower.first)) continue;
      const std::string rest = k.substr(std::string(tower.first).size());  // "N.sub..."
      const auto dot = rest.find('.');
      const std::string prefix = tower.second + rest.substr(0, dot + 1);
      const std::string sub = rest.substr(dot + 1);
      for (const auto& r : kHfBlockToOpenAI)
        if (starts_with(sub, r.first)) {
          out[prefix + r.second + sub.substr(std::string(r.first).size())] = as_float(kv.second);
          done = true;
        }
      static const char* qkv_names[3] = {"self_attn.q_proj.", "self_attn.k_proj.", "self_attn.v_proj."};
      for (int j = 0; j < 3 && !done; ++j)
        if (starts_with(sub, qkv_names[j])) {
          const std::string what = sub.substr(std::string(qkv_names[j]).size());
          if (what == "weight" || what == "bias") {
            qkv[prefix][what == "weight" ? 0 : 1][j] = as_float(kv.second);
            done = true;
          }
        }
      if (!done) fail(source, "unexpected Hugging Face CLIP tensor '" + k + "'");
    }
    // Anything else (e.g. a vision-only head) is not part of CLIP: dropped.
  }
  for (auto& kv : qkv) {
    for (int wb = 0; wb < 2; ++wb) {
      for (int j = 0; j < 3; ++j)
        if (!kv.second[wb][j].defined()) {
          // Name the HF key the user would look for in their file.
          std::string hf = kv.first;
          for (const auto& tower : kHfTowers)
            if (starts_with(hf, tower.second)) hf = tower.first + hf.substr(std::string(tower.second).size());
          fail(source, std::string("missing tensor '") + hf + "self_attn." + "qkv"[j] + "_proj." +
                           (wb ? "bias" : "weight") + "'");
        }
      out[kv.first + (wb ? "attn.in_proj_bias" : "attn.in_proj_weight")] = at::cat({kv.second[wb][0], kv.second[wb][1],
                                                                                    kv.second[wb][2]},
                                                                                   0);
    }
  }
  return out;
}

// ZegCLIP / CLIP-RC (mmseg EncoderDecoder): backbone.* is the image tower
// under OpenAI's names (ln_post and proj only with get_embeddings, which
// both use), text_encoder.* the text tower; everything else (decode_head.*,
// the backbone's prompt and region tokens) belongs to the segmentor.
bool is_mmseg_clip(const StateDict& sd) {
  return sd.count("backbone.conv1.weight") && sd.count("text_encoder.token_embedding.weight");
}

StateDict mmseg_to_openai(const StateDict& sd) {
  static const std::set<std::string> segmentor_own = {"region_level_bridge", "prompt_embeddings",
                                                      "deep_prompt_embeddings"};
  StateDict out;
  for (const auto& [k, v] : sd) {
    if (starts_with(k, "backbone.")) {
      const std::string rest = k.substr(9);
      if (segmentor_own.count(rest) || starts_with(rest, "prompt_")) continue;
      out["visual." + rest] = as_float(v);
    } else if (starts_with(k, "text_encoder.")) {
      out[k.substr(13)] = as_float(v);
    }
  }
  if (!out.count("logit_scale")) out["logit_scale"] = at::scalar_tensor(std::log(100.0), at::kFloat);
  return out;
}

StateDict openai_normalise(StateDict sd) {
  // DDP checkpoints prefix every key with "module.".
  bool all_module = !sd.empty();
  for (const auto& kv : sd) all_module = all_module && starts_with(kv.first, "module.");
  StateDict out;
  for (auto& kv : sd) {
    std::string k = all_module ? kv.first.substr(7) : kv.first;
    if (k == "input_resolution" || k == "context_length" || k == "vocab_size") continue;
    // open_clip CustomTextCLIP keeps the text tower under "text.".
    if (starts_with(k, "text.")) k = k.substr(5);
    out[k] = as_float(kv.second);
  }
  return out;
}

}  // namespace

ClipLayout detect_clip_layout(const StateDict& sd, const std::string& source) {
  if (is_mmseg_clip(sd)) return ClipLayout::MMSegmentation;
  for (const auto& kv : sd)
    if (starts_with(kv.first, "vision_model.") || starts_with(kv.first, "text_model.")) return ClipLayout::HuggingFace;
  for (const auto& kv : sd) {
    std::string k = starts_with(kv.first, "module.") ? kv.first.substr(7) : kv.first;
    if (starts_with(k, "visual.") || k == "token_embedding.weight" || k == "text.token_embedding.weight")
      return ClipLayout::OpenAI;
  }
  std::string first;
  int n = 0;
  for (auto it = sd.begin(); it != sd.end() && n < 3; ++it, ++n) first += (n ? ", '" : "'") + it->first + "'";
  fail(source, "does not look like a CLIP checkpoint (neither OpenAI/open_clip nor Hugging Face key names; " +
                   std::to_string(sd.size()) + " tensors" + (first.empty() ? "" : ", first: " + first) + ")");
}

StateDict to_openai_clip_layout(StateDict sd, const std::string& source) {
  switch (detect_clip_layout(sd, source)) {
    case ClipLayout::HuggingFace: return hf_to_openai(std::move(sd), source);
    case ClipLayout::MMSegmentation: return mmseg_to_openai(sd);
    case ClipLayout::OpenAI: break;
  }
  return openai_normalise(std::move(sd));
}

StateDict openai_to_hf_clip_layout(const StateDict& sd) {
  StateDict out;
  std::map<std::string, at::Tensor> positions;  // HF position_ids buffers
  for (const auto& kv : sd) {
    const std::string& k = kv.first;
    if (k == "input_resolution" || k == "context_length" || k == "vocab_size") continue;
    if (k == "visual.proj") {
      out["visual_projection.weight"] = kv.second.t().contiguous();
      continue;
    }
    if (k == "text_projection") {
      out["text_projection.weight"] = kv.second.t().contiguous();
      continue;
    }
    bool done = false;
    for (const auto& r : kHfToOpenAI)
      if (starts_with(k, r.second)) {
        out[r.first + k.substr(std::string(r.second).size())] = kv.second;
        done = true;
        break;
      }
    if (done) continue;
    for (const auto& tower : kHfTowers) {
      if (!starts_with(k, tower.second)) continue;
      const std::string rest = k.substr(std::string(tower.second).size());
      const auto dot = rest.find('.');
      const std::string prefix = tower.first + rest.substr(0, dot + 1);
      const std::string sub = rest.substr(dot + 1);
      if (sub == "attn.in_proj_weight" || sub == "attn.in_proj_bias") {
        auto parts = kv.second.chunk(3, 0);
        const std::string wb = sub == "attn.in_proj_weight" ? "weight" : "bias";
        out[prefix + "self_attn.q_proj." + wb] = parts[0].contiguous();
        out[prefix + "self_attn.k_proj." + wb] = parts[1].contiguous();
        out[prefix + "self_attn.v_proj." + wb] = parts[2].contiguous();
        done = true;
      }
      for (const auto& r : kHfBlockToOpenAI)
        if (!done && starts_with(sub, r.second)) {
          out[prefix + r.first + sub.substr(std::string(r.second).size())] = kv.second;
          done = true;
        }
    }
    if (!done) out[k] = kv.second;
  }
  auto add_ids = [&](const char* emb, const char* ids) {
    auto it = out.find(emb);
    if (it != out.end()) out[ids] = at::arange(it->second.size(0), at::kLong).unsqueeze(0);
  };
  add_ids("vision_model.embeddings.position_embedding.weight", "vision_model.embeddings.position_ids");
  add_ids("text_model.embeddings.position_embedding.weight", "text_model.embeddings.position_ids");
  return out;
}

StateDict load_clip_state_dict(const std::string& path) { return to_openai_clip_layout(load_state_dict(path), path); }

}  // namespace ovseg::models
