// The clip plugins' view of the process-wide CLIP model cache
// (ovseg/models/shared_clip.hpp).
#pragma once

#include "ovseg/models/shared_clip.hpp"

namespace ovseg::clip_plugins {

using models::shared_clip_model;

// The node's `model` parameter: a path relative to the pipeline file when
// such a file exists there, else the value as written (zoo name or path).
inline std::string model_argument(const StageInit& init) { return models::clip_model_argument(init); }

}  // namespace ovseg::clip_plugins
