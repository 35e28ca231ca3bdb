// The training-free last-block refinements on the window batch of a 448x448
// image (224 windows, stride 112 -> 9 windows of 1+14*14 tokens, one batch),
// CLIP ViT-B/16 shapes with random weights, each plugin loaded from its .so
// and run as the executor runs it. Plus CLIPtrase's correlation and cluster
// vote on one 224x224 image (its protocol: no windows).
//
//   build/bin/bench_refinements
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include <chrono>
#include <map>
#include <memory>

#include "ovseg/host/map_stage_context.hpp"
#include "ovseg/host/plugin_loader.hpp"
#include "ovseg/models/clip_model.hpp"
#include "ovseg/models/random_clip.hpp"
#include "ovseg/sdk.hpp"

namespace {

using namespace ovseg;

std::shared_ptr<models::ClipModel> vit_b16() {
  static auto m = models::ClipModel::from_state_dict(
      models::make_random_clip_state_dict(models::clip_geometry_preset("ViT-B/16"), 0), "random ViT-B/16");
  return m;
}

const PluginCatalog& catalog() {
  static PluginCatalog c = discover_plugins({});  // <bin>/../lib/ovseg/plugins
  return c;
}

std::unique_ptr<Stage> make_stage(const std::string& name) { return create_stage(catalog(), name, {}, "bench"); }

// Tokens entering the last block: random, LayerNorm makes their scale moot.
Tokens window_batch(int64_t windows, int64_t grid) {
  at::manual_seed(0);
  return Tokens{at::randn({windows, 1 + grid * grid, vit_b16()->geometry().vision_width}), grid, grid, true};
}

void run_stage(benchmark::State& state, const std::string& plugin, MapStageContext& ctx, int64_t windows) {
  auto stage = make_stage(plugin);
  stage->run(ctx);  // warm-up: first-touch allocations, cached priors
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    stage->run(ctx);
    benchmark::ClobberMemory();
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  state.counters["ms/window"] = 1e3 * s / (static_cast<double>(state.iterations()) * windows);
}

void BM_Refinement(benchmark::State& state, const std::string& plugin) {
  MapStageContext ctx("bench");
  ctx.inputs["tokens"] = window_batch(9, 14);
  ctx.inputs["model"] = ModelHandle::of(vit_b16());
  run_stage(state, plugin, ctx, 9);
}

void BM_CliptraseCorrelation(benchmark::State& state) {
  MapStageContext ctx("bench");
  ctx.inputs["tokens"] = window_batch(1, 14);
  ctx.inputs["model"] = ModelHandle::of(vit_b16());
  run_stage(state, "cliptrase_correlation", ctx, 1);
}

void BM_CliptraseClusterVote(benchmark::State& state) {
  // A real correlation map of random tokens, 21 VOC classes at 224x224.
  MapStageContext corr_ctx("bench");
  corr_ctx.inputs["tokens"] = window_batch(1, 14);
  corr_ctx.inputs["model"] = ModelHandle::of(vit_b16());
  make_stage("cliptrase_correlation")->run(corr_ctx);
  MapStageContext ctx("bench");
  ctx.inputs["correlation"] = corr_ctx.outputs.at("correlation");
  ctx.inputs["logits"] = Logits{at::randn({1, 21, 224, 224}), std::vector<std::string>(21, "c")};
  run_stage(state, "cliptrase_cluster_vote", ctx, 1);
}

}  // namespace

BENCHMARK_CAPTURE(BM_Refinement, vanilla_block, std::string("vanilla_block"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Refinement, maskclip, std::string("maskclip"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Refinement, sclip, std::string("sclip"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Refinement, clearclip, std::string("clearclip"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Refinement, naclip, std::string("naclip"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Refinement, cliptrase, std::string("cliptrase"))->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CliptraseCorrelation)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CliptraseClusterVote)->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  ovseg::init_process();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
