// Windows of several images in one window-phase batch (WindowBatcher, issue
// 21): labels equal predict()'s image by image, stitched logits bit for bit
// (colour pipeline) or to float rounding (CLIP: BLAS sums a product's rows
// in an order that depends on the batch's row count), for
// images of several sizes (one narrower than the window: another crop
// size), batch limits that split an image's windows over two batches, the
// memory cap, both labelling paths (class tiles, untiled with thresholds),
// a CLIP pipeline (NACLIP on the shipped world CLIP), and the fallback to
// one image per batch when the window phase reads ground truth; `ovseg
// eval` stores the same confusion matrix under any limits.
// ATen before doctest: c10 defines its own CHECK, doctest must win.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "eval_test_util.hpp"
#include "ovseg/host/graph.hpp"
#include "ovseg/host/results_store.hpp"
#include "ovseg/host/window_batcher.hpp"
#include "ovseg/sdk/memory_meter.hpp"
#include "ovseg/sdk/stage_capabilities.hpp"

using namespace ovseg;
using namespace eval_test;

namespace {

// Preprocessed images (1,3,H,W) of several sizes; the third is narrower
// than a 112 px window (its crops are 112 x 90) and the last has one window.
std::vector<at::Tensor> images_of_sizes(const std::vector<std::pair<int, int>>& sizes, uint64_t seed) {
  at::manual_seed(seed);
  std::vector<at::Tensor> out;
  for (const auto& [h, w] : sizes) out.push_back(at::rand({1, 3, h, w}));
  return out;
}

// Labels at a size other than the image's, so the resize is exercised.
int label_h(const at::Tensor& image) { return static_cast<int>(image.size(2)) + 7; }
int label_w(const at::Tensor& image) { return static_cast<int>(image.size(3)) - 5; }

std::vector<Prediction> per_image(ProtocolRunner& runner, const std::vector<at::Tensor>& images) {
  std::vector<Prediction> out;
  for (const auto& image : images) out.push_back(runner.predict(image, label_h(image), label_w(image)));
  return out;
}

std::vector<Prediction> batched(ProtocolRunner& runner, const std::vector<at::Tensor>& images, BatchLimits limits,
                                WindowBatcher::Stats* stats = nullptr) {
  WindowBatcher batcher(runner, limits);
  std::vector<Prediction> out;
  for (const auto& image : images)
    for (auto& p : batcher.add(image, label_h(image), label_w(image))) out.push_back(std::move(p));
  for (auto& p : batcher.flush()) out.push_back(std::move(p));
  if (stats) *stats = batcher.stats();
  return out;
}

// Labels equal; logits bit for bit, or (max_relative > 0) within that
// fraction of the largest logit: a matrix product's rows may be summed in
// another order when the batch has another number of rows (BLAS kernels
// block rows by count), as between two windows of one batch already.
// Returns the largest relative difference seen.
double check_same(const std::vector<Prediction>& expected, const std::vector<Prediction>& got,
                  double max_relative = 0) {
  REQUIRE(got.size() == expected.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i].num_windows == expected[i].num_windows);
    CHECK(got[i].class_names == expected[i].class_names);
    CHECK(got[i].labels.equal(expected[i].labels));
    CHECK(got[i].logits.defined() == expected[i].logits.defined());
    if (!expected[i].logits.defined()) continue;
    REQUIRE(got[i].logits.sizes() == expected[i].logits.sizes());
    const double scale = expected[i].logits.abs().max().item<double>();
    const double diff = (got[i].logits - expected[i].logits).abs().max().item<double>() / scale;
    worst = std::max(worst, diff);
    if (max_relative == 0)
      CHECK(got[i].logits.equal(expected[i].logits));
    else
      CHECK(diff <= max_relative);
  }
  return worst;
}

const std::vector<std::pair<int, int>> kSizes = {{150, 260}, {112, 200}, {200, 90}, {150, 260}, {100, 100}};

}  // namespace

TEST_CASE("batching windows across images: the labels and logits of predict(), at every limit") {
  const Graph g = build_graph(load_pipeline_spec(kColourPipeline), catalog());
  Protocol p;
  p.window = 112;
  p.stride = 74;
  const auto images = images_of_sizes(kSizes, 11);
  // 6 + 3 + 3 (crops 112 x 90) + 6 + 1 windows.
  for (const bool keep_logits : {false, true}) {  // labels by class tiles / stitched logits kept
    for (const double prob_thd : {0.0, 0.5}) {    // thresholds: the untiled labelling on the whole map
      CAPTURE(keep_logits);
      CAPTURE(prob_thd);
      Protocol q = p;
      q.prob_thd = prob_thd;
      ProtocolRunner runner(g, q, "cpu");
      runner.keep_logits(keep_logits);
      REQUIRE(runner.batches_across_images());
      const std::vector<Prediction> expected = per_image(runner, images);
      CHECK(expected[0].num_windows == 6);
      CHECK(expected[2].num_windows == 3);
      CHECK(expected[4].num_windows == 1);
      if (prob_thd > 0) {  // not trivial: the threshold moved some pixels to class 0
        bool moved = false;
        ProtocolRunner plain(g, p, "cpu");
        for (size_t i = 0; i < images.size(); ++i)
          moved |= !plain.predict(images[i], label_h(images[i]), label_w(images[i])).labels.equal(expected[i].labels);
        CHECK(moved);
      }
      // 1: every window alone; 4 and 5 split images over batches; 64: all
      // of one crop size at once. memory_mb 1e-6: one window per batch
      // after the first (the measured cap); 0: no cap.
      for (const int windows : {1, 4, 5, 64, 0}) {
        for (const double memory_mb : {0.0, 1e-6, 1024.0}) {
          CAPTURE(windows);
          CAPTURE(memory_mb);
          WindowBatcher::Stats stats;
          check_same(expected, batched(runner, images, {windows, memory_mb}, &stats));
          CHECK(stats.windows == 19);
          CHECK(stats.across_images == (windows > 0));
          CHECK(stats.window_phase_peak_mb > 0);
          if (windows == 0) CHECK(stats.batches == 5);  // one image per batch
          if (windows > 0 && memory_mb == 0.0)          // one crop size per batch, each at most `windows`
            CHECK(stats.largest_batch == std::min(windows, 9));
          if (windows == 5 && memory_mb == 0.0)  // 5 | 1+3 | 3 (112 x 90) | 5 | 1 | 1 (100 x 100)
            CHECK(stats.batches == 6);
          if (windows > 0 && memory_mb == 1e-6)  // one window to measure, then one by one
            CHECK(stats.batches == 19);
          if (windows > 0 && memory_mb > 0) CHECK(stats.mb_per_window > 0);
        }
      }
    }
  }
}

TEST_CASE("batching windows across images: NACLIP on the world CLIP gives predict()'s labels, logits to 1e-5") {
  const Graph g = build_graph(load_pipeline_spec(kSourceDir + "/pipelines/naclip.toml", {}, "world"), catalog());
  const Protocol protocol = parse_protocol(g.spec);  // 64 px windows at stride 32
  REQUIRE(protocol.window == 64);
  const std::vector<std::vector<std::string>> vocabulary = {{"sky"}, {"water"}, {"sand"}, {"grass"}, {"ball"}};
  const auto images = images_of_sizes({{128, 160}, {96, 128}, {128, 128}}, 5);  // 12 + 6 + 9 windows
  for (const bool keep_logits : {false, true}) {
    CAPTURE(keep_logits);
    ProtocolRunner runner(g, protocol, "cpu", vocabulary);
    runner.keep_logits(keep_logits);
    const std::vector<Prediction> expected = per_image(runner, images);
    for (const int windows : {1, 7, 32}) {
      CAPTURE(windows);
      WindowBatcher::Stats stats;
      const double worst = check_same(expected, batched(runner, images, {windows, 0}, &stats), 1e-5);
      MESSAGE("NACLIP, world CLIP, batch " << windows << ": logits within " << worst << " of the largest");
      CHECK(stats.windows == 27);
      CHECK(stats.largest_batch == std::min(windows, 27));
    }
  }
}

TEST_CASE("ground truth in the window phase, or a batch-coupled stage: one image per batch, as predict()") {
  // MaskCLIP++'s oracle row classifies ground-truth segments: the window
  // phase reads input.instances, padded to the batch's largest count.
  const Graph g = build_graph(load_pipeline_spec(kSourceDir + "/pipelines/maskclippp_oracle.toml"), catalog());
  ProtocolRunner runner(g, parse_protocol(g.spec), "cpu", {{"sky"}, {"water"}, {"sand"}});
  CHECK_FALSE(runner.batches_across_images());
  at::manual_seed(3);
  std::vector<at::Tensor> images;
  std::vector<ProtocolRunner::Truth> truths;
  for (int i = 0; i < 3; ++i) {
    images.push_back(at::rand({1, 3, 128, 128}));
    ProtocolRunner::Truth t;
    t.labels = at::randint(0, 3, {64, 64}, at::kLong);
    t.instances = at::randint(0, 2 + i, {64, 64}, at::kLong);  // 1, 2, 3 instances: different paddings
    t.class_names = {"sky", "water", "sand"};
    truths.push_back(t);
  }
  // A stage whose batch elements are coupled (sam_auto_masks pads every
  // window to the batch's largest proposal count) says so: its pipelines
  // run one image per batch too.
  CHECK(capabilities_of("sam_auto_masks").batch_coupled);
  CHECK_FALSE(capabilities_of("clip_image").batch_coupled);
  WindowBatcher batcher(runner, {32, 0});
  std::vector<Prediction> got;
  for (size_t i = 0; i < images.size(); ++i)
    for (auto& p : batcher.add(images[i], 64, 64, &truths[i])) got.push_back(std::move(p));
  for (auto& p : batcher.flush()) got.push_back(std::move(p));
  CHECK_FALSE(batcher.stats().across_images);
  CHECK(batcher.stats().batches == 3);
  REQUIRE(got.size() == 3);
  for (size_t i = 0; i < images.size(); ++i)
    CHECK(got[i].labels.equal(runner.predict(images[i], 64, 64, &truths[i]).labels));
}

TEST_CASE("ovseg eval: the same confusion matrix under any batch limits; the record says how it batched") {
  TempDir tmp;
  nlohmann::json reference;
  const std::vector<std::pair<int, std::string>> runs = {{0, ""},
                                                         {5, ""},
                                                         {64, "--batch-memory-mb 0"},
                                                         {3, "--batch-memory-mb 0.000001"}};
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& [windows, extra] = runs[i];
    CAPTURE(windows);
    const std::string results = tmp.file("run" + std::to_string(i));
    const CliResult r = run_cli("eval '" + kColourPipeline + "' --dataset coco_object --data-root '" + kCocoRoot +
                                "' --limit 3 --quiet --results '" + results + "' --batch-windows " +
                                std::to_string(windows) + " " + extra);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const auto records = load_records(results);
    REQUIRE(records.size() == 1);
    const nlohmann::json& rec = records[0];
    CHECK(rec.at("batching").at("windows") == windows);
    CHECK(rec.at("timings").at("process_cpu_s").get<double>() > 0);
    if (i == 0) {
      reference = rec;
      CHECK(rec["batching"]["across_images"] == false);
      CHECK(rec["batching"]["batches"] == 3);
      continue;
    }
    CHECK(rec["batching"]["across_images"] == true);
    CHECK(rec["key"] == reference["key"]);  // not part of the run
    CHECK(rec["confusion_matrix"] == reference["confusion_matrix"]);
    CHECK(rec["qualitative"]["images"] == reference["qualitative"]["images"]);
  }
  const CliResult bad = run_cli("eval '" + kColourPipeline + "' --dataset coco_object --data-root '" + kCocoRoot +
                                "' --limit 1 --batch-memory-mb lots");
  CHECK(bad.exit_code == 2);
  CHECK(contains(bad.output, "--batch-memory-mb 'lots' is not a non-negative number"));
}

TEST_CASE("the memory cap's meter: a reused large block counts its whole size, so a freed one sums back to 0") {
  // The test main's init_process keeps freed blocks of 32 MiB and more for
  // reuse; a 40 MB tensor takes the cached 64 MB block. Counting 40 MB in
  // and 64 MB out made the sum drift below what was live, and later
  // batches' peaks (the cap's measurement) look smaller than they were.
  { const at::Tensor block = at::ones({16 << 20}, at::kFloat); }  // 64 MiB, then cached
  TensorMemoryMeter meter;
  {
    const at::Tensor reused = at::ones({10 << 20}, at::kFloat);  // 40 MiB
    CHECK(meter.current_bytes() >= int64_t{40} << 20);
  }
  CHECK(meter.current_bytes() == 0);
  CHECK(meter.peak_bytes() >= int64_t{40} << 20);
  // Meters nest: an inner one passes every allocation on to the outer.
  TensorMemoryMeter outer;
  {
    TensorMemoryMeter inner;
    const at::Tensor t = at::ones({1 << 20}, at::kFloat);
    CHECK(inner.peak_bytes() >= int64_t{4} << 20);
  }
  CHECK(outer.peak_bytes() >= int64_t{4} << 20);
}
