// plugins/examples/hybrid_attention, the README's CLIP-using plugin tutorial:
// built and loaded from the plugin folder like any plugin, its two ends equal
// the training-free plugins it mixes, its middle differs from both, a wrong
// model handle is a clear error, and its pipeline file runs end to end on a
// random CLIP.
#include <filesystem>
#include <functional>
#include <unistd.h>

#include "built_plugins.hpp"
#include "ovseg/host/executor.hpp"
#include "ovseg/host/graph.hpp"
#include "ovseg/host/map_stage_context.hpp"
#include "ovseg/host/pipeline_spec.hpp"
#include "ovseg/host/plugin_loader.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/models/clip_model.hpp"
#include "ovseg/models/random_clip.hpp"
#include "ovseg/sdk.hpp"

using namespace ovseg;
namespace fs = std::filesystem;

namespace {

using ovseg_test::catalog;

// Two heads of 64 and three blocks, so per-head paths are exercised.
std::shared_ptr<models::ClipModel> model() {
  static auto m = [] {
    models::ClipGeometry g = models::clip_geometry_preset("tiny");
    g.vision_width = 128;
    g.vision_heads = 2;
    g.vision_layers = 3;
    return models::ClipModel::from_state_dict(models::make_random_clip_state_dict(g, 5), "example-test");
  }();
  return m;
}

constexpr int64_t kH = 3, kW = 4;

at::Tensor features(const std::string& plugin, const std::map<std::string, ParamValue>& params) {
  at::manual_seed(3);
  MapStageContext ctx("refine");
  ctx.inputs["tokens"] = Tokens{at::randn({2, 1 + kH * kW, 128}), kH, kW, true};
  ctx.inputs["model"] = ModelHandle::of(model());
  create_stage(catalog(), plugin, params, "refine")->run(ctx);
  return std::get<FeatureMap>(ctx.outputs.at("features")).features;
}

double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  return ((a.to(at::kDouble) - b.to(at::kDouble)).abs().max() / b.to(at::kDouble).abs().max()).item<double>();
}

}  // namespace

TEST_CASE("hybrid_attention: mix 1 is NACLIP, mix 0 is ClearCLIP's q-q map, 0.5 is neither") {
  REQUIRE(catalog().find("hybrid_attention") != nullptr);
  const at::Tensor naclip = features("naclip", {});
  const at::Tensor qq = features("last_block", {{"attention", std::string("qq")}, {"residual", false}, {"ffn", false}});
  const at::Tensor mix1 = features("hybrid_attention", {{"mix", 1.0}});
  const at::Tensor mix0 = features("hybrid_attention", {{"mix", 0.0}, {"gaussian_std", 0.0}});
  const at::Tensor half = features("hybrid_attention", {});
  CHECK(mix1.sizes() == at::IntArrayRef({2, model()->geometry().embed_dim, kH, kW}));
  // The fused q/k/v projection of a custom attention rounds differently from
  // NACLIP's k-only one: equal to float precision, not bit for bit.
  CHECK(rel_diff(mix1, naclip) < 1e-5);
  CHECK(rel_diff(mix0, qq) < 1e-5);
  CHECK(rel_diff(half, naclip) > 1e-3);
  CHECK(rel_diff(half, qq) > 1e-3);
}

TEST_CASE("hybrid_attention: a wrong model handle or a mix outside [0, 1] is a clear error") {
  MapStageContext ctx("refine");
  ctx.inputs["tokens"] = Tokens{at::randn({1, 1 + kH * kW, 128}), kH, kW, true};
  ctx.inputs["model"] = ModelHandle::of(std::make_shared<int>(7));
  CHECK_THROWS_WITH_AS(create_stage(catalog(), "hybrid_attention", {}, "refine")->run(ctx),
                       "node 'refine' input 'model': expected a model of type ovseg::models::ClipModel, got int -- "
                       "fix: wire clip_image's 'model' output",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(create_stage(catalog(), "hybrid_attention", {{"mix", 1.5}}, "refine"), doctest::Contains("mix"),
                       std::exception);
}

TEST_CASE("hybrid_attention.toml runs end to end through the host on a random CLIP") {
  const fs::path dir = fs::temp_directory_path() / ("ovseg_example_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string ckpt = (dir / "clip.pt").string();
  models::save_torchscript_state_dict(ckpt, model()->state_dict());
  setenv("OVSEG_CLIP_BPE", OVSEG_SHARED_DATA "/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz", 1);
  const std::vector<Override> overrides = {parse_override("nodes.clip.model=\"" + ckpt + "\""),
                                           parse_override("nodes.text.model=\"" + ckpt + "\""),
                                           parse_override("nodes.text.class_names=[\"sky\", \"sea\", \"sand\"]")};
  Graph g = build_graph(load_pipeline_spec(OVSEG_SOURCE_DIR "/plugins/examples/hybrid_attention/hybrid_attention.toml",
                                           overrides),
                        catalog());
  Executor ex(g, "cpu");
  at::manual_seed(1);
  const RunResult r = ex.run(Image{at::rand({1, 3, 48, 64})});
  const at::Tensor logits = std::get<Logits>(r.values.at("upsample.logits")).logits;
  CHECK(logits.sizes() == at::IntArrayRef({1, 3, 48, 64}));
  CHECK(at::isfinite(logits).all().item<bool>());
  std::error_code ec;
  fs::remove_all(dir, ec);
}
