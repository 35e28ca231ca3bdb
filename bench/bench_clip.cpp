// CLIP ViT-B/16 image tower throughput on the CPU, and how close it gets to
// the machine's matmul peak measured in the same run.
//
//   build/bin/bench_clip
//
// BM_MatmulPeak runs first and records the best GFLOP/s of a large float32
// matmul (what OpenBLAS can do here); the tower benchmarks report images/s,
// their own GFLOP/s (analytic FLOP count of the forward) and the fraction of
// that peak they reach.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>

#include "../plugins/clip/clip_templates.hpp"  // the 80 ImageNet templates (compiled in, see CMakeLists)
#include "ovseg/models/clip_model.hpp"
#include "ovseg/models/clip_tokenizer.hpp"
#include "ovseg/models/model_zoo.hpp"
#include "ovseg/models/random_clip.hpp"
#include "ovseg/sdk/runtime.hpp"

namespace {

double g_peak_gflops = 0;  // best matmul rate seen in this process

template <class F>
double timed_loop(benchmark::State& state, F body) {
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) body();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void BM_MatmulPeak(benchmark::State& state) {
  const int64_t n = state.range(0);
  at::Tensor a = at::randn({n, n}), b = at::randn({n, n}), c = at::empty({n, n});
  const double seconds = timed_loop(state, [&] {
    at::mm_out(c, a, b);
    benchmark::DoNotOptimize(c.data_ptr());
  });
  const double gflops = 2.0 * n * n * n * state.iterations() / seconds / 1e9;
  g_peak_gflops = std::max(g_peak_gflops, gflops);
  state.counters["GFLOP/s"] = gflops;
}

// FLOPs of one ViT forward (multiply-add = 2 FLOPs): patch embedding, per block
// qkv + out-projection (4NC^2), attention scores and mix (2N^2C), MLP (8NC^2),
// and the final projection of the CLS token.
double vit_flops(const ovseg::models::ClipGeometry& g) {
  const double c = static_cast<double>(g.vision_width);
  const double n = static_cast<double>(g.grid() * g.grid() + 1);
  const double patch_in = 3.0 * g.patch_size * g.patch_size;
  const double macs = (n - 1) * patch_in * c + g.vision_layers * (12.0 * n * c * c + 2.0 * n * n * c) + c * g.embed_dim;
  return 2.0 * macs;
}

std::shared_ptr<ovseg::models::ClipModel> vit_b16() {
  static auto model = ovseg::models::ClipModel::from_state_dict(
      ovseg::models::make_random_clip_state_dict(ovseg::models::clip_geometry_preset("ViT-B/16"), 0),
      "random ViT-B/16");
  return model;
}

void BM_ClipImageTower(benchmark::State& state) {
  auto model = vit_b16();
  const int64_t batch = state.range(0);
  at::Tensor x = at::randn({batch, 3, 224, 224});
  at::NoGradGuard no_grad;
  model->encode_image(x);  // warm-up: first-touch allocations
  const double seconds = timed_loop(state, [&] {
    at::Tensor e = model->encode_image(x);
    benchmark::DoNotOptimize(e.data_ptr());
  });
  const double images = static_cast<double>(batch) * state.iterations();
  const double gflops = vit_flops(model->geometry()) * images / seconds / 1e9;
  state.SetItemsProcessed(static_cast<int64_t>(images));
  state.counters["images/s"] = images / seconds;
  state.counters["GFLOP/img"] = vit_flops(model->geometry()) / 1e9;
  state.counters["GFLOP/s"] = gflops;
  state.counters["of_peak"] = g_peak_gflops > 0 ? gflops / g_peak_gflops : 0.0;
}

// Start-up cost of the class embeddings: the OVSS methods' segmentors
// (SCLIP, ClearCLIP, NACLIP clip_segmentor.py __init__) put every query word
// through the 80 ImageNet templates, 80 prompts per word. Ten words here
// (COCO-Object's list has 112): 800 prompts through the ViT-B/16 text tower,
// 80 at a time as they do. ovseg cuts each batch at its last EOT token
// (ClipModel::encode_text) and clip_text caches the result on disk.
void BM_ClipTextEmbeddings(benchmark::State& state) {
  auto model = vit_b16();
  const ovseg::models::ClipTokenizer tok(ovseg::models::resolve_bpe_vocab());
  const std::vector<std::string> words = {"sky", "wall",       "person",   "body", "bicycle",
                                          "car", "motorcycle", "airplane", "bus",  "train"};
  const auto templates = ovseg::clip_plugins::template_set("imagenet80");
  std::vector<at::Tensor> ids;
  for (const auto& w : words) {
    std::vector<std::string> prompts;
    for (const auto& t : templates) prompts.push_back(ovseg::clip_plugins::apply_template(t, w));
    ids.push_back(tok.tokenize(prompts, model->geometry().context_length));
  }
  at::NoGradGuard no_grad;
  const double seconds = timed_loop(state, [&] {
    for (const auto& batch : ids) benchmark::DoNotOptimize(model->encode_text(batch).data_ptr());
  });
  const double prompts = static_cast<double>(words.size() * templates.size()) * state.iterations();
  state.counters["prompts/s"] = prompts / seconds;
  state.counters["s_per_10_words"] = seconds / state.iterations();
}

}  // namespace

BENCHMARK(BM_MatmulPeak)->Arg(1024)->Arg(2048)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_ClipImageTower)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK(BM_ClipTextEmbeddings)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();
// Peak first: the tower benchmarks divide by it.

int main(int argc, char** argv) {
  ovseg::init_process();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
