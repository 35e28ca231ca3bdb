// Reading a released MaskCLIP++ checkpoint (MaskCorrCheckpointer in the
// authors' utils/ckpt.py: torch.save({"model": {...}}) of the modules
// saved_modules() names): visual_encoder.proxy.<open_clip visual tower>,
// visual_encoder.mask_logit_scale, psm.corr_proj_in.0.* / corr_proj_out.0.*,
// and text_encoder.<open_clip text tower> when the text side was fine-tuned.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>

#include "ovseg/models/clip_model.hpp"

namespace ovseg::maskclippp {

struct ReleasedTensors {
  std::shared_ptr<models::ClipModel>& model;  // replaced by one holding the checkpoint's towers
  at::Tensor* mask_logit_scale;               // (L', heads), copied in place
  at::Tensor *psm_in_w, *psm_in_b, *psm_out_w, *psm_out_b;
  bool text_loaded = false;  // the file held a fine-tuned text tower
};

// Errors name the file and the key: an EVA-CLIP or ConvNeXt tower (not an
// OpenAI-layout ViT), a CLIP tensor the file lacks, a shape that differs, a
// key no tensor takes.
void load_released_checkpoint(const std::string& path, ReleasedTensors& into);

}  // namespace ovseg::maskclippp
