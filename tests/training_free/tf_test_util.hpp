// Shared by the training-free tests: the plugin catalog, a small random CLIP
// with several heads (stages run in an ovseg::MapStageContext), and a way
// to run one plugin from its .so with chosen parameters.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "built_plugins.hpp"
#include "ovseg/host/map_stage_context.hpp"
#include "ovseg/host/plugin_loader.hpp"
#include "ovseg/models/clip_model.hpp"
#include "ovseg/models/random_clip.hpp"
#include "ovseg/sdk.hpp"

namespace tf_test {

using namespace ovseg;

using ovseg_test::catalog;

// "tiny" widened to 128 (2 heads of 64) and 3 vision blocks, so per-head
// code paths and the second-to-last block are really exercised.
inline std::shared_ptr<models::ClipModel> model() {
  static auto m = [] {
    models::ClipGeometry g = models::clip_geometry_preset("tiny");
    g.vision_width = 128;
    g.vision_heads = 2;
    g.vision_layers = 3;
    return models::ClipModel::from_state_dict(models::make_random_clip_state_dict(g, 11), "tf-test");
  }();
  return m;
}

// The plugin's stage built from its descriptor (defaults + overrides).
inline std::unique_ptr<Stage> make_stage(const std::string& plugin, const std::map<std::string, ParamValue>& set = {}) {
  return create_stage(catalog(), plugin, set);
}

inline ModelHandle handle() { return ModelHandle::of(model()); }

// max |a - b| / max |b|: the relative error of a whole tensor.
inline double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor bd = b.to(at::kDouble);
  return ((a.to(at::kDouble) - bd).abs().max() / bd.abs().max()).item<double>();
}

}  // namespace tf_test
