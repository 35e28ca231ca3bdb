// CAT-Seg (plugins/catseg) at ViT-B geometry with random weights, forward
// only, as the catseg stage runs at inference: CLIP ViT-B/16 (width 768, 12
// blocks) dense forward of a 384 px image (24x24 tokens), the two guidance
// upsamplers (blocks 3 and 7 -> 256 ch at 48x48, 128 ch at 96x96), and the
// vitb_384 aggregator (hidden 128, 2 layers, 4 heads, text / appearance
// guidance 512 -> 128, decoder 64 / 32, window 12, pad_len 256) over K
// classes. Class embeddings are random unit vectors (the text tower's output
// is cached by the stage after the first forward, so it is left out).
// Counters: ms per image, the peak tensor memory of one forward
// (TensorMemoryMeter: everything allocated during it, the output included)
// and the output's own size. Args: K, class_chunk (0 = all classes at once).
// Past pad_len (256) classes the aggregator keeps the 256 best-correlated,
// so K = 847 does the per-class work of 256 classes.
//
//   build/bin/bench_catseg
//   build/bin/bench_catseg --benchmark_filter='CatSeg/150/'
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x
#include <ATen/CPUGeneratorImpl.h>
#include <benchmark/benchmark.h>

#include <cmath>
#include <memory>

#include "../plugins/catseg/catseg_aggregator.hpp"
#include "../plugins/catseg/catseg_clip.hpp"
#include "ovseg/models/clip_model.hpp"
#include "ovseg/models/random_clip.hpp"
#include "measure_time_and_memory.hpp"
#include "ovseg/sdk/runtime.hpp"

namespace {

using namespace ovseg;

struct Model {
  std::unique_ptr<catseg::CatSegClip> clip;
  at::Tensor up_w[2], up_b[2];
  catseg::AggregatorConfig cfg;  // vitb_384 defaults
};

Model& model() {
  static Model m = [] {
    Model r;
    const auto g = models::clip_geometry_preset("ViT-B/16");
    auto clip = models::ClipModel::from_state_dict(models::make_random_clip_state_dict(g, 0), "random ViT-B/16");
    r.clip = std::make_unique<catseg::CatSegClip>(*clip);
    at::manual_seed(0);
    const int64_t outs[2] = {256, 128}, ks[2] = {2, 4};
    for (int i = 0; i < 2; ++i) {
      const double b = 1.0 / std::sqrt(static_cast<double>(outs[i] * ks[i] * ks[i]));
      r.up_w[i] = at::empty({g.vision_width, outs[i], ks[i], ks[i]}).uniform_(-b, b);
      r.up_b[i] = at::empty({outs[i]}).uniform_(-b, b);
    }
    r.cfg.text_guidance_dim = g.embed_dim;
    r.cfg.appearance_guidance_dim = g.embed_dim;
    r.cfg.feature_resolution = 384 / g.patch_size;
    return r;
  }();
  return m;
}

void BM_CatSeg(benchmark::State& state) {
  at::NoGradGuard no_grad;
  Model& m = model();
  const int64_t K = state.range(0);
  catseg::AggregatorConfig c = m.cfg;
  c.class_chunk = state.range(1);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(1);
  const catseg::Aggregator agg(c, gen);
  at::manual_seed(1);
  const at::Tensor image = at::randn({1, 3, 384, 384});  // CLIP-normalised pixels
  at::Tensor text = at::randn({1, K, 1, c.text_guidance_dim});
  text = text / text.norm(2, -1, true);
  measure_time_and_memory(state, [&] {
    const auto dense = m.clip->encode_image_dense(image, {3, 7});
    at::Tensor res4 = at::conv_transpose2d(dense.layers[0], m.up_w[0], m.up_b[0], {2, 2});
    at::Tensor res5 = at::conv_transpose2d(dense.layers[1], m.up_w[1], m.up_b[1], {4, 4});
    return at::sigmoid(agg.forward(dense.features, text, {dense.features, res4, res5}, /*pooling=*/1));
  });
}

}  // namespace

BENCHMARK(BM_CatSeg)
    ->ArgNames({"K", "chunk"})
    ->Args({21, 0})
    ->Args({21, 8})
    ->Args({150, 0})
    ->Args({150, 16})
    ->Args({847, 0})
    ->Args({847, 16})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

int main(int argc, char** argv) {
  ovseg::init_process();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
