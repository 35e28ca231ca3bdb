// One loaded copy of each checkpoint per process and device, shared by every
// node that names it (clip_image and clip_text of one pipeline load once).
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>

#include "ovseg/models/clip_model.hpp"
#include "ovseg/sdk/plugin.hpp"

namespace ovseg::clip_plugins {

// `model` is a zoo name or a file path (see ovseg::models::resolve_model_file).
std::shared_ptr<models::ClipModel> shared_clip_model(const std::string& model, at::Device device);

// The node's `model` parameter: a path relative to the pipeline file when
// such a file exists there, else the value as written (zoo name or path).
std::string model_argument(const StageInit& init);

// The handle type name other plugins check before casting a Model port.
inline constexpr const char* kClipHandleType = "ovseg::models::ClipModel";

}  // namespace ovseg::clip_plugins
