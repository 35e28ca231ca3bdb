// One loaded copy of each CLIP checkpoint per process and device, shared by
// every stage that names it: clip_image, clip_text and cliprc_encoder of one
// pipeline load a checkpoint once. Lives in libovseg_models (one per process)
// so stages of different plugin libraries share it too.
#pragma once

#include <memory>
#include <string>

#include <ATen/ATen.h>

#include "ovseg/models/clip_model.hpp"
#include "ovseg/sdk/plugin.hpp"

namespace ovseg::models {

// `model` is a zoo name or a file path (see resolve_model_file). The model is
// shared: a stage that trains or loads tensors into it must clone() it.
std::shared_ptr<ClipModel> shared_clip_model(const std::string& model, at::Device device);

// While one of these lives, a model shared_clip_model loaded stays loaded
// after its last stage is gone, so the next pipeline of one command (ovseg
// eval A.toml B.toml) finds it instead of reading the checkpoint again.
class KeepSharedModels {
 public:
  KeepSharedModels();
  ~KeepSharedModels();
  KeepSharedModels(const KeepSharedModels&) = delete;
  KeepSharedModels& operator=(const KeepSharedModels&) = delete;
};

// A stage's model parameter (`param`, default "model"): a path relative to
// the pipeline file when such a file exists there, else the value as written
// (zoo name or path).
std::string clip_model_argument(const StageInit& init, const std::string& param = "model");

}  // namespace ovseg::models
