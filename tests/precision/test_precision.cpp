// `--precision fp32|bf16|fp16` (host/include/ovseg/host/precision.hpp):
// which stages run under autocast, what a bf16 run hands on (float32), how
// far its logits move from fp32's, the text-embedding cache per precision,
// the records (field, identity, table labels) and the errors.
#include <unistd.h>

#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>
#include <torch/version.h>

#include "../eval/eval_test_util.hpp"
#include "ovseg/host/eval_run.hpp"
#include "ovseg/host/executor.hpp"
#include "ovseg/host/pipeline_spec.hpp"
#include "ovseg/host/precision.hpp"
#include "ovseg/host/results_store.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/models/clip_model.hpp"
#include "ovseg/models/random_clip.hpp"
#include "ovseg/sdk/autocast.hpp"

#include <doctest/doctest.h>  // glog's CHECK is handled by tests/doctest_prelude.hpp

using namespace ovseg;
using namespace eval_test;
using nlohmann::json;

namespace {

// bf16 keeps 8 bits of mantissa: one rounding is up to 2^-9 = 0.2% relative.
// Through the test model's 3 blocks, the NACLIP block and the cosine logits
// the whole-tensor error max|bf16 - fp32| / max|fp32| measured 1.2e-2 (see
// the case below); 4e-2 leaves a margin for other BLAS / oneDNN kernels.
constexpr double kBf16LogitTolerance = 4e-2;

// "Float", "BFloat16": printable in a failed CHECK, unlike at::ScalarType.
std::string dtype(const at::Tensor& t) { return c10::toString(t.scalar_type()); }

double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor bd = b.to(at::kDouble);
  return ((a.to(at::kDouble) - bd).abs().max() / bd.abs().max()).item<double>();
}

// A random CLIP with 2 heads of 64 and 3 vision blocks, as a TorchScript
// checkpoint, and a cache folder of its own (text embeddings land there).
struct Env {
  TempDir dir;
  std::string model = dir.file("wide.pt");
  Env() {
    setenv("OVSEG_CACHE_DIR", dir.file("cache").c_str(), 1);
    setenv("OVSEG_CLIP_BPE", OVSEG_SHARED_DATA "/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz", 1);
    models::ClipGeometry g = models::clip_geometry_preset("tiny");
    g.vision_width = 128;
    g.vision_heads = 2;
    g.vision_layers = 3;
    models::save_torchscript_state_dict(model, models::make_random_clip_state_dict(g, 11));
  }
};

Env& env() {
  static Env e;
  return e;
}

Graph naclip_graph() {
  const std::vector<Override> overrides = {parse_override("nodes.clip.model=\"" + env().model + "\""),
                                           parse_override("nodes.text.model=\"" + env().model + "\""),
                                           parse_override(
                                               "nodes.text.names_file=\"../host/harness/class_names/cls_voc21.txt\"")};
  return build_graph(load_pipeline_spec(kSourceDir + "/pipelines/naclip_pamr.toml", overrides), catalog());
}

std::vector<at::Tensor> floating_tensors(const PortValue& v) {
  std::vector<at::Tensor> out;
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Tokens>) out.push_back(x.tokens);
        if constexpr (std::is_same_v<T, FeatureMap>) out.push_back(x.features);
        if constexpr (std::is_same_v<T, TextEmbeddings>) out.push_back(x.embeddings);
        if constexpr (std::is_same_v<T, Logits>) out.push_back(x.logits);
      },
      v);
  return out;
}

size_t cached_text_embeddings() {
  const fs::path d = fs::path(env().dir.file("cache")) / "text-embeddings";
  if (!fs::is_directory(d)) return 0;
  return static_cast<size_t>(std::distance(fs::directory_iterator(d), fs::directory_iterator()));
}

}  // namespace

TEST_CASE("precision: parsing, which stages run reduced, fp16 on the CPU") {
  CHECK(parse_precision("fp32") == Precision::fp32);
  CHECK(parse_precision("bf16") == Precision::bf16);
  CHECK(parse_precision("fp16") == Precision::fp16);
  for (Precision p : {Precision::fp32, Precision::bf16, Precision::fp16}) CHECK(parse_precision(to_string(p)) == p);
  try {
    parse_precision("fp8");
    FAIL("fp8 accepted");
  } catch (const std::invalid_argument& e) {
    CHECK(contains(e.what(), "'fp8'"));
    CHECK(contains(e.what(), "fp32, bf16, fp16"));
  }
  // By kind: encoders and refinements under autocast, the rest float32;
  // similarity_smoothing (a refinement) declares itself full precision.
  const auto reduced = [](const std::string& plugin) {
    const LoadedPlugin* p = catalog().find(plugin);
    REQUIRE(p != nullptr);
    return runs_in_reduced_precision(p->descriptor);
  };
  for (const char* p : {"clip_image", "clip_text", "naclip", "sclip", "maskclip", "sam_image_encoder"}) {
    CAPTURE(p);
    CHECK(reduced(p));
  }
  for (const char* p : {"cosine_logits", "resize_logits", "pamr", "densecrf", "argmax", "similarity_smoothing"}) {
    CAPTURE(p);
    CHECK_FALSE(reduced(p));
  }
  CHECK(catalog().find("similarity_smoothing")->descriptor.kind == StageKind::Refinement);

  CHECK_NOTHROW(check_precision_device(Precision::bf16, "cpu"));
#if TORCH_VERSION_MAJOR < 2
  try {
    check_precision_device(Precision::fp16, "cpu");
    FAIL("fp16 on the CPU accepted by LibTorch 1.x");
  } catch (const std::invalid_argument& e) {
    CHECK(contains(e.what(), "device 'cpu'"));
    CHECK(contains(e.what(), "--precision bf16"));
    CHECK(contains(e.what(), "cuda"));
  }
  // The executor refuses it before any stage is built.
  CHECK_THROWS_WITH_AS(Executor(naclip_graph(), "cpu", {}, {}, Precision::fp16), doctest::Contains("fp16"),
                       std::invalid_argument);
#endif
}

TEST_CASE("AutocastScope turns autocast on for its device type and restores the state after") {
  const at::Device cpu(at::kCPU);
  CHECK(autocast_precision(cpu).empty());
  const at::Tensor a = at::rand({4, 8}), b = at::rand({8, 3});
  {
    AutocastScope outer(cpu, at::kBFloat16);
    CHECK(autocast_precision(cpu) == "bf16");
    CHECK(dtype(at::matmul(a, b)) == "BFloat16");  // autocast really casts
    CHECK(dtype(a + a) == "Float");                // elementwise ops keep their type
  }
  CHECK(autocast_precision(cpu).empty());
  CHECK(dtype(at::matmul(a, b)) == "Float");
}

TEST_CASE("bf16 on the CPU: encoders and refinements hand on float32; logits within the bf16 tolerance") {
  at::manual_seed(5);
  const at::Tensor image = at::rand({1, 3, 48, 64});
  const Graph graph = naclip_graph();
  const size_t cached_before = cached_text_embeddings();
  Executor fp32(graph, "cpu");
  RunResult a = fp32.run(Image{image});
  Executor bf16(graph, "cpu", {}, {}, Precision::bf16);
  CHECK(bf16.precision() == Precision::bf16);
  RunResult b = bf16.run(Image{image});
  // The text tower ran under autocast as well: its embeddings are cached
  // apart from the float32 ones (one file each, never mixed).
  CHECK(cached_text_embeddings() == cached_before + 2);

  // Every value a node hands on is float32, from bf16 nodes too.
  for (const auto& [key, value] : b.values) {
    CAPTURE(key);
    for (const at::Tensor& t : floating_tensors(value)) CHECK(dtype(t) == "Float");
  }
  // Autocast was on (the refined features differ from fp32's), and the
  // logits after PAMR stay within the stated tolerance.
  const at::Tensor fa = std::get<FeatureMap>(a.values.at("refine.features")).features;
  const at::Tensor fb = std::get<FeatureMap>(b.values.at("refine.features")).features;
  const double feature_diff = rel_diff(fb, fa), logit_diff = rel_diff(b.logits.logits, a.logits.logits);
  MESSAGE("bf16 vs fp32: features ", feature_diff, ", logits ", logit_diff, " (max |diff| / max |fp32|)");
  CHECK(feature_diff > 1e-4);
  CHECK(logit_diff < kBf16LogitTolerance);
  CHECK(b.logits.logits.sizes() == a.logits.logits.sizes());
  // Labels mostly agree (random weights: near-ties flip some pixels).
  const double agree = b.labels.labels.eq(a.labels.labels).to(at::kFloat).mean().item<double>();
  MESSAGE("bf16 vs fp32 labels: ", 100 * agree, "% of pixels equal");
  CHECK(agree > 0.8);
}

TEST_CASE("ovseg eval --precision: records carry it, fp32 and bf16 coexist, tables label the rows") {
  TempDir tmp;
  const std::string world = tmp.file("world"), results = tmp.file("runs");
  CliResult w = run_cli("world --out '" + world + "' --train 0 --val 2 --seed 0");
  INFO(w.output);
  REQUIRE(w.exit_code == 0);
  const auto eval = [&](const std::string& extra) {
    return run_cli("eval '" + kSourceDir + "/pipelines/naclip.toml' --dataset world --data-root '" + world +
                   "' --results '" + results + "' --quiet --plugin-dir '" OVSEG_TEST_PLUGIN_DIR "' " + extra);
  };
  CliResult r32 = eval("");
  INFO(r32.output);
  REQUIRE(r32.exit_code == 0);
  CliResult r16 = eval("--precision bf16");
  INFO(r16.output);
  REQUIRE(r16.exit_code == 0);
  CHECK_FALSE(contains(r16.output, "already stored"));  // not the fp32 record

  std::vector<json> records = load_records(results);
  REQUIRE(records.size() == 2);
  std::set<std::string> precisions, keys;
  for (const auto& r : records) {
    precisions.insert(r.at("precision").get<std::string>());
    keys.insert(r.at("key").get<std::string>());
    CHECK(record_key(r).stem() == r.at("key").get<std::string>());
  }
  CHECK(precisions == std::set<std::string>{"bf16", "fp32"});
  CHECK(keys.size() == 2);
  const json& bf16 = records[0].at("precision") == "bf16" ? records[0] : records[1];
  CHECK(contains(bf16.at("key").get<std::string>(), "__bf16"));
  // The world CLIP at bf16 scores close to fp32 on 2 scenes.
  const json& fp32 = records[0].at("precision") == "fp32" ? records[0] : records[1];
  CHECK(std::abs(bf16.at("mIoU").get<double>() - fp32.at("mIoU").get<double>()) < 5.0);

  // Each precision finds its own record again.
  CHECK(contains(eval("--precision bf16").output, "already stored"));
  CHECK(contains(eval("--precision fp32").output, "already stored"));
  CHECK(load_records(results).size() == 2);

  // One row per precision, labelled where they differ.
  CliResult t = run_cli("table --results '" + results + "/*.json'");
  INFO(t.output);
  CHECK(t.exit_code == 0);
  CHECK(contains(t.output, "naclip [bf16]"));
  CHECK(contains(t.output, "naclip [fp32]"));
  CHECK(contains(t.output, "in bf16 (--precision)"));

  // A record written before --precision existed reads as fp32, keeps its
  // key, and its row is not labelled.
  json old = fp32;
  old.erase("precision");
  CHECK(record_key(old).precision == "fp32");
  CHECK(record_key(old).stem() == fp32.at("key").get<std::string>());
  old.erase("_file");
  write_json_atomic(tmp.file("old/only.json"), old);
  CliResult t_old = run_cli("table --results '" + tmp.file("old") + "/*.json'");
  INFO(t_old.output);
  CHECK(t_old.exit_code == 0);
  CHECK(contains(t_old.output, "| naclip |"));
}

TEST_CASE("ovseg eval / run --precision: bad values and fp16 on the CPU are clear errors") {
  TempDir tmp;
  CliResult bad = run_cli("run '" + kColourPipeline + "' --image '" + kSourceDir +
                          "/pipelines/examples/beach.png' --out '" + tmp.file("o") + "' --precision fp8");
  CHECK(bad.exit_code == 2);
  CHECK(contains(bad.output, "ovseg run: --precision 'fp8' is not one of fp32, bf16, fp16"));
  CliResult bad_eval = run_cli("eval '" + kColourPipeline + "' --dataset coco_object --data-root '" + kCocoRoot +
                               "' --precision FP16 --results '" + tmp.file("r") + "'");
  CHECK(bad_eval.exit_code == 2);
  CHECK(contains(bad_eval.output, "'FP16'"));
#if TORCH_VERSION_MAJOR < 2
  CliResult fp16 = run_cli("eval '" + kColourPipeline + "' --dataset coco_object --data-root '" + kCocoRoot +
                           "' --limit 1 --device cpu --precision fp16 --results '" + tmp.file("r") + "'");
  INFO(fp16.output);
  CHECK(fp16.exit_code == 1);
  CHECK(contains(fp16.output, "--precision fp16 on device 'cpu'"));
  CHECK(contains(fp16.output, "use --precision bf16 on the CPU"));
  CHECK(json_files(tmp.file("r")).empty());  // refused before anything ran or was stored
#endif
  // bf16 through `ovseg run`: the colour pipeline (weight-free) completes and says so.
  CliResult ok = run_cli("run '" + kColourPipeline + "' --image '" + kSourceDir +
                         "/pipelines/examples/beach.png' --out '" + tmp.file("o") + "' --no-logits --precision bf16");
  INFO(ok.output);
  CHECK(ok.exit_code == 0);
  CHECK(contains(ok.output, ", bf16)"));
}
