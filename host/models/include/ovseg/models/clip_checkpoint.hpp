#pragma once
// CLIP key layouts. The model works on OpenAI's names (which open_clip ViT
// checkpoints share); Hugging Face transformers' CLIPModel names are mapped,
// and so are the mmsegmentation segmentors built on CLIP (ZegCLIP, CLIP-RC:
// "backbone.<OpenAI visual name>", "text_encoder.<OpenAI text name>", plus
// their own prompt, region and decode_head tensors, which are left out here).
//
// Hugging Face note: HF CLIP configs choose hidden_act; every OpenAI CLIP
// converted to HF uses "quick_gelu", and so does this model. A HF checkpoint
// trained with exact GELU would load but compute slightly different features.

#include <ovseg/models/state_dict.hpp>

#include <string>

namespace ovseg::models {

enum class ClipLayout { OpenAI, HuggingFace, MMSegmentation };

// OpenAI/open_clip, HF or mmseg, judged by key names. Throws if none.
ClipLayout detect_clip_layout(const StateDict& sd, const std::string& source_name);

// Returns the state dict in OpenAI layout, float32. Accepts OpenAI/open_clip
// (strips a DDP "module." prefix and open_clip CustomTextCLIP's "text." tower
// prefix) and HF CLIPModel (q/k/v concatenated into in_proj, projections
// transposed) and mmseg segmentors (prefixes renamed; the segmentor's own
// tensors dropped; they store no logit_scale, so OpenAI's trained value
// ln(100) is filled in: ZegCLIP and CLIP-RC never use it). Unrelated keys
// (HF position_ids, OpenAI's input_resolution...) are dropped. Errors name
// `source_name` and the missing tensor.
StateDict to_openai_clip_layout(StateDict sd, const std::string& source_name);

// The inverse mapping: an OpenAI-layout state dict renamed to HF CLIPModel
// keys (including HF's int64 position_ids buffers). Used to write HF-layout
// test checkpoints and to export.
StateDict openai_to_hf_clip_layout(const StateDict& sd);

// load_state_dict(path) + to_openai_clip_layout.
StateDict load_clip_state_dict(const std::string& path);

}  // namespace ovseg::models
