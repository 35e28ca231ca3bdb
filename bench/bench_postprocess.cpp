// Postprocess plugins on image-sized logits: PAMR (NACLIP settings: 10
// iterations, dilations 8,16) and DenseCRF (5 mean-field iterations, DeepLab
// kernels), 21 classes, through the built plugins.
//
//   cmake --build build --target bench_postprocess pamr densecrf
//   build/bin/bench_postprocess
//
// The image is smooth colour blobs plus pixel noise (a stand-in for a photo:
// the lattice size, hence DenseCRF's cost, grows with the number of distinct
// colours; OVSEG_BENCH_IMAGE=pipelines/examples/beach.png uses a photo, and
// the noise argument is then ignored); the logits are coarse random scores upsampled bilinearly, as
// resize_logits produces them.
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <map>

#include "ovseg/host/map_stage_context.hpp"
#include "ovseg/host/image_io.hpp"
#include "ovseg/host/plugin_loader.hpp"
#include "ovseg/sdk.hpp"
#include "ovseg/sdk/runtime.hpp"

namespace {

using namespace ovseg;

const PluginCatalog& catalog() {
  static PluginCatalog c = discover_plugins({});
  return c;
}

std::unique_ptr<Stage> make_stage(const std::string& name) { return create_stage(catalog(), name, {}, "bench"); }

// OVSEG_BENCH_IMAGE=path.png benchmarks on that photo (resized) instead.
at::Tensor bench_image(int64_t size, double noise) {
  const char* path = std::getenv("OVSEG_BENCH_IMAGE");
  if (path != nullptr && *path != 0) return at::upsample_bilinear2d(load_image(path), {size, size}, false);
  at::Tensor image = at::upsample_bicubic2d(at::rand({1, 3, 6, 6}), {size, size}, false);
  image = (image + noise * at::randn_like(image)).clamp(0, 1);
  return at::round(image * 255) / 255;  // a decoded 8-bit image
}

MapStageContext inputs(int64_t size, int64_t classes, double noise) {
  at::manual_seed(0);
  const at::Tensor image = bench_image(size, noise);
  const at::Tensor logits = at::upsample_bilinear2d(3 * at::randn({1, classes, size / 16, size / 16}), {size, size},
                                                    false);
  MapStageContext ctx("bench");
  ctx.inputs["image"] = Image{image};
  std::vector<std::string> names;
  for (int64_t k = 0; k < classes; ++k) names.push_back("c" + std::to_string(k));
  ctx.inputs["logits"] = Logits{logits.contiguous(), names};
  return ctx;
}

void run_plugin(benchmark::State& state, const std::string& name) {
  const int64_t size = state.range(0), classes = state.range(1);
  MapStageContext ctx = inputs(size, classes, state.range(2) / 1000.0);
  std::unique_ptr<Stage> stage = make_stage(name);
  stage->run(ctx);  // warm-up: thread pool, allocator
  for (auto _ : state) {
    stage->run(ctx);
    benchmark::DoNotOptimize(std::get<Logits>(ctx.outputs.at("logits")).logits.data_ptr());
  }
  state.counters["Mpix/s"] = benchmark::Counter(double(size * size) * state.iterations() / 1e6,
                                                benchmark::Counter::kIsRate);
}

void BM_Pamr(benchmark::State& state) { run_plugin(state, "pamr"); }
void BM_DenseCrf(benchmark::State& state) { run_plugin(state, "densecrf"); }

// Args: image size, classes, pixel noise std in 1/1000 of the [0,1] range
// (10 ~ 2.5 grey levels, photo-like; 30 ~ 7.6 levels, a stress case: 6x more
// lattice points than the bundled photo).
BENCHMARK(BM_Pamr)->Args({448, 21, 10})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_DenseCrf)
    ->Args({448, 21, 10})
    ->Args({512, 21, 10})
    ->Args({512, 21, 30})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  ovseg::init_process();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
