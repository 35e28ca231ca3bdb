// LoftUp (plugins/loftup, host/models loftup.hpp) at CLIP ViT-B/16 shapes
// with random weights: 512-channel features of a 224 or 448 px image
// (14x14 or 28x28 tokens) upsampled to the image's resolution, against
// bilinear upsampling of the same features. Counters: ms per image, the
// peak tensor memory of one call (TensorMemoryMeter: everything allocated
// during it, the output included) and the output's own size.
//
//   build/bin/bench_loftup                       # tiles of <= 64 MB working memory (the plugin's default)
//   build/bin/bench_loftup --benchmark_filter=Untiled   # one tile: what tiling saves
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x
#include <benchmark/benchmark.h>

#include <memory>

#include "ovseg/models/loftup.hpp"
#include "measure_time_and_memory.hpp"
#include "ovseg/sdk/runtime.hpp"

namespace {

using namespace ovseg;

const models::LoftUp& clip_upsampler() {
  static models::LoftUp m(models::make_loftup_state_dict(models::loftup_geometry_preset("clip"), 0, true), "random");
  return m;
}

struct Inputs {
  at::Tensor lr, image;
};
Inputs inputs(int64_t size) {
  at::manual_seed(0);
  return {at::randn({1, 512, size / 16, size / 16}), at::rand({1, 3, size, size})};
}

void BM_LoftUp(benchmark::State& state) {
  at::NoGradGuard no_grad;
  const Inputs in = inputs(state.range(0));
  models::LoftUp::Options o;  // max_tile_bytes: 64 MB, the plugin's default
  measure_time_and_memory(state, [&] { return clip_upsampler().forward(in.lr, in.image, o); });
}

void BM_LoftUp_Untiled(benchmark::State& state) {
  at::NoGradGuard no_grad;
  const Inputs in = inputs(state.range(0));
  models::LoftUp::Options o;
  o.max_tile_bytes = 0;
  measure_time_and_memory(state, [&] { return clip_upsampler().forward(in.lr, in.image, o); });
}

void BM_Bilinear(benchmark::State& state) {
  at::NoGradGuard no_grad;
  const Inputs in = inputs(state.range(0));
  const int64_t s = state.range(0);
  measure_time_and_memory(state, [&] { return at::upsample_bilinear2d(in.lr, {s, s}, false); });
}

}  // namespace

BENCHMARK(BM_LoftUp)->Arg(224)->Arg(448)->Unit(benchmark::kMillisecond)->Iterations(2);
BENCHMARK(BM_LoftUp_Untiled)->Arg(224)->Arg(448)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_Bilinear)->Arg(224)->Arg(448)->Unit(benchmark::kMillisecond)->Iterations(5);

int main(int argc, char** argv) {
  ovseg::init_process();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
