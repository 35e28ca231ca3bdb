// SAM on the CPU: the image encoders at 1024 px (ViT-B and MobileSAM's
// TinyViT, random weights in the official layouts: speed does not depend on
// the values) and the prompt encoder + mask decoder per prompt.
//
//   build/bin/bench_sam
//
// The predictor benchmarks run SamPredictor exactly as segment_anything's
// (set_image on the bundled pipelines/examples/beach.png, then predict for a
// click); the README compares them with the reference Python code on the
// same checkpoint (`ovseg make-random-sam --preset vit_b --seed 0` writes the
// weights these use) and the same image.
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "ovseg/host/image_io.hpp"
#include "ovseg/models/random_sam.hpp"
#include "ovseg/models/sam_predictor.hpp"
#include "ovseg/sdk/runtime.hpp"

namespace {

using namespace ovseg::models;

std::shared_ptr<SamModel> model(const std::string& preset) {
  static std::map<std::string, std::shared_ptr<SamModel>> cache;
  auto& m = cache[preset];
  if (!m) m = SamModel::from_state_dict(make_random_sam_state_dict(sam_geometry_preset(preset), 0), "random " + preset);
  return m;
}

// Wall seconds of the loop; also reports the process CPU seconds per
// iteration ("cpu_s/iter"), a steadier figure than wall time on a shared machine.
template <class F>
double timed_loop(benchmark::State& state, F body) {
  const double c0 = ovseg::process_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) body();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  state.counters["cpu_s/iter"] = (ovseg::process_cpu_seconds() - c0) / static_cast<double>(state.iterations());
  return wall;
}

// ViT encoder FLOPs (multiply-add = 2): patch embedding; per block qkv and
// output projections (4NC^2), attention scores and mix (2 N_attended C per
// token: the window or the whole grid), MLP (8NC^2); the neck (1x1 then 3x3).
double vit_flops(const SamGeometry& g) {
  const auto& v = g.vit;
  const double c = static_cast<double>(v.width), n = static_cast<double>(v.grid() * v.grid());
  double macs = n * 3.0 * v.patch_size * v.patch_size * c;
  for (int64_t i = 0; i < v.depth; ++i) {
    const bool global = std::find(v.global_blocks.begin(), v.global_blocks.end(), i) != v.global_blocks.end();
    const double attended = global ? n : static_cast<double>(v.window * v.window);
    macs += 4.0 * n * c * c + 2.0 * n * attended * c + 2.0 * n * c * v.mlp_dim;
  }
  macs += n * c * g.embed_dim + n * 9.0 * g.embed_dim * g.embed_dim;
  return 2.0 * macs;
}

void BM_SamEncoder(benchmark::State& state, const std::string& preset) {
  auto m = model(preset);
  const int64_t s = m->geometry().image_size;
  const at::Tensor x = at::randn({1, 3, s, s});
  c10::InferenceMode guard;
  m->encode_image(x);  // warm-up: first-touch allocations
  const double seconds = timed_loop(state, [&] { benchmark::DoNotOptimize(m->encode_image(x).data_ptr()); });
  state.counters["s/image"] = seconds / state.iterations();
  if (m->geometry().encoder == SamEncoderType::ViT)
    state.counters["GFLOP/s"] = vit_flops(m->geometry()) * state.iterations() / seconds / 1e9;
}

// Prompt encoder + mask decoder + masks back to a 1024x768 image, for
// `prompts` one-click prompts decoded together (multimask), per prompt.
void BM_SamDecoderPerPrompt(benchmark::State& state) {
  auto m = model("vit_b");
  const int64_t prompts = state.range(0);
  SamPredictor predictor(m);
  predictor.set_embeddings(at::randn({1, 256, 64, 64}), sam_frame(768, 1024, 1024));
  const at::Tensor points = at::rand({prompts, 1, 2}) * 1000, labels = at::ones({prompts, 1}, at::kInt);
  c10::InferenceMode guard;
  predictor.predict_torch(points, labels, {}, {}, true);
  const double seconds = timed_loop(state, [&] {
    benchmark::DoNotOptimize(predictor.predict_torch(points, labels, {}, {}, true).masks.data_ptr());
  });
  state.counters["ms/prompt"] = 1e3 * seconds / state.iterations() / prompts;
}

// The predictor end to end on the bundled image, as the Python comparison.
const at::Tensor& beach() {
  static const at::Tensor image = sam_image_to_uint8(
      ovseg::load_image(OVSEG_SOURCE_DIR "/pipelines/examples/beach.png"));
  return image;
}

void BM_PredictorSetImage(benchmark::State& state, const std::string& preset) {
  SamPredictor predictor(model(preset));
  c10::InferenceMode guard;
  predictor.set_image(beach());
  const double seconds = timed_loop(state, [&] { predictor.set_image(beach()); });
  state.counters["s/image"] = seconds / state.iterations();
}

void BM_PredictorPredictClick(benchmark::State& state, const std::string& preset) {
  SamPredictor predictor(model(preset));
  c10::InferenceMode guard;
  predictor.set_image(beach());
  const at::Tensor point = at::tensor({160.0, 120.0}).view({1, 2}), label = at::ones({1}, at::kLong);
  const double seconds = timed_loop(state, [&] {
    benchmark::DoNotOptimize(predictor.predict(point, label, {}, {}, true).masks.data_ptr());
  });
  state.counters["ms/click"] = 1e3 * seconds / state.iterations();
}

}  // namespace

BENCHMARK_CAPTURE(BM_SamEncoder, vit_b, std::string("vit_b"))
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_SamEncoder, mobile_sam, std::string("mobile_sam"))
    ->Unit(benchmark::kMillisecond)
    ->Iterations(5)
    ->UseRealTime();
BENCHMARK(BM_SamDecoderPerPrompt)->Arg(1)->Arg(16)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK_CAPTURE(BM_PredictorSetImage, vit_b, std::string("vit_b"))
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_PredictorSetImage, mobile_sam, std::string("mobile_sam"))
    ->Unit(benchmark::kMillisecond)
    ->Iterations(5)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_PredictorPredictClick, vit_b, std::string("vit_b"))
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0)
    ->UseRealTime();

int main(int argc, char** argv) {
  ovseg::init_process();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
