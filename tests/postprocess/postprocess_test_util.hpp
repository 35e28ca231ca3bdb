// Runs one postprocess plugin on given port values, without a pipeline: the
// real built plugin library is loaded, its parameters filled like the host
// does (defaults, then the test's values), and run in a map-backed context.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "ovseg/host/map_stage_context.hpp"
#include "ovseg/host/plugin_loader.hpp"
#include "ovseg/sdk.hpp"

#include <doctest/doctest.h>  // glog's CHECK is handled by tests/doctest_prelude.hpp

namespace postprocess_test {

using namespace ovseg;

inline const PluginCatalog& catalog() {
  static PluginCatalog c = [] {
    PluginCatalog cat;
    cat.load_library(std::string(OVSEG_TEST_PLUGIN_DIR) + "/libovseg_plugin_pamr.so");
    cat.load_library(std::string(OVSEG_TEST_PLUGIN_DIR) + "/libovseg_plugin_densecrf.so");
    return cat;
  }();
  return c;
}

inline std::unique_ptr<Stage> make_stage(const std::string& plugin,
                                         const std::map<std::string, ParamValue>& params = {}) {
  return create_stage(catalog(), plugin, params);
}

// Runs `plugin` on (logits, image) and returns its output logits.
inline at::Tensor run_logits(const std::string& plugin, const at::Tensor& logits, const at::Tensor& image,
                             const std::map<std::string, ParamValue>& params = {},
                             std::vector<std::string> class_names = {}) {
  if (class_names.empty())
    for (int64_t k = 0; k < logits.size(1); ++k) class_names.push_back("c" + std::to_string(k));
  MapStageContext ctx;
  ctx.inputs["logits"] = Logits{logits, class_names};
  ctx.inputs["image"] = Image{image};
  make_stage(plugin, params)->run(ctx);
  return std::get<Logits>(ctx.outputs.at("logits")).logits;
}

}  // namespace postprocess_test
