#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x

#include "maskclippp_checkpoint.hpp"

#include <ovseg/sdk.hpp>

#include <set>
#include <stdexcept>

#include "ovseg/models/checkpoint_io.hpp"

namespace ovseg::maskclippp {

namespace {
const std::string kVisual = "visual_encoder.proxy.", kText = "text_encoder.";

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

void copy_into(const std::string& path, const std::string& key, const at::Tensor& from, at::Tensor* to) {
  if (!from.sizes().equals(to->sizes()))
    throw std::invalid_argument("MaskCLIP++ checkpoint '" + path + "': '" + key + "' is " + shape_string(from) +
                                ", this node's is " + shape_string(*to) +
                                " (set the node's parameters to the checkpoint's)");
  at::NoGradGuard no_grad;
  to->copy_(from.to(to->scalar_type()));
}
}  // namespace

void load_released_checkpoint(const std::string& path, ReleasedTensors& into) {
  const models::StateDict file = models::load_state_dict(path);  // unwraps {"model": ...}
  for (const auto& [key, t] : file) {
    if (starts_with(key, kVisual + "blocks.") || starts_with(key, kVisual + "patch_embed."))
      throw std::invalid_argument("MaskCLIP++ checkpoint '" + path + "' holds an EVA-CLIP tower ('" + key +
                                  "'); this stage runs OpenAI-layout ViTs (the authors' CLIPViT encoder)");
    if (starts_with(key, kVisual + "trunk.") || starts_with(key, kVisual + "stem."))
      throw std::invalid_argument("MaskCLIP++ checkpoint '" + path + "' holds a ConvNeXt tower ('" + key +
                                  "'); this stage runs OpenAI-layout ViTs (the authors' CLIPViT encoder)");
  }
  // The CLIP towers: the checkpoint's tensors replace the model's, by name
  // (open_clip's names are OpenAI's, the visual ones without "visual.").
  models::StateDict sd = into.model->state_dict();
  std::set<std::string> taken;
  for (const auto& [key, t] : file) {
    std::string name;
    if (starts_with(key, kVisual))
      name = "visual." + key.substr(kVisual.size());
    else if (starts_with(key, kText))
      name = key.substr(kText.size());
    else
      continue;
    if (name == "attn_mask") {
      taken.insert(key);
      continue;
    }  // the causal mask buffer, not a weight
    auto it = sd.find(name);
    if (it == sd.end())
      throw std::invalid_argument("MaskCLIP++ checkpoint '" + path + "': unexpected tensor '" + key + "' " +
                                  shape_string(t) + " (the CLIP has no '" + name + "')");
    if (!t.sizes().equals(it->second.sizes()))
      throw std::invalid_argument("MaskCLIP++ checkpoint '" + path + "': '" + key + "' is " + shape_string(t) +
                                  ", the CLIP's '" + name + "' is " + shape_string(it->second) +
                                  " (give the matching CLIP as `model`)");
    it->second = t.to(at::kFloat);
    taken.insert(key);
    if (starts_with(key, kText)) into.text_loaded = true;
  }
  for (const auto& [name, t] : sd)
    if (starts_with(name, "visual.") && !file.count(kVisual + name.substr(7)))
      throw std::invalid_argument("MaskCLIP++ checkpoint '" + path + "' has no tensor '" + kVisual + name.substr(7) +
                                  "'");
  const at::Device device = into.model->device();
  auto model = models::ClipModel::from_state_dict(std::move(sd), path);
  model->to(device);
  into.model = model;

  auto take = [&](const std::string& key, at::Tensor* to, bool required) {
    auto it = file.find(key);
    if (it == file.end()) {
      if (required) throw std::invalid_argument("MaskCLIP++ checkpoint '" + path + "' has no tensor '" + key + "'");
      return;
    }
    copy_into(path, key, it->second, to);
    taken.insert(key);
  };
  // Absent when the scale was not learnable (a non-persistent buffer then).
  take("visual_encoder.mask_logit_scale", into.mask_logit_scale, false);
  take("psm.corr_proj_in.0.weight", into.psm_in_w, true);
  take("psm.corr_proj_in.0.bias", into.psm_in_b, true);
  take("psm.corr_proj_out.0.weight", into.psm_out_w, true);
  take("psm.corr_proj_out.0.bias", into.psm_out_b, true);
  for (const auto& [key, t] : file)
    if (!taken.count(key))
      throw std::invalid_argument("MaskCLIP++ checkpoint '" + path + "': unexpected tensor '" + key + "' " +
                                  shape_string(t) + " (a configuration this plugin does not build, e.g. another PSM)");
}

}  // namespace ovseg::maskclippp
