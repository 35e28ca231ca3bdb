// The training-free pipelines under pipelines/ end to end: `ovseg run` on the bundled
// beach image and `ovseg eval` on one COCO-Object image, with a random tiny
// checkpoint; and the CLIPtrase graph through the host with a multi-head
// model to check what clip_image hands over.
#include <cstdio>
#include <filesystem>
#include <unistd.h>

#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x

#include "ovseg/host/executor.hpp"
#include "ovseg/host/graph.hpp"
#include "ovseg/host/image_io.hpp"
#include "ovseg/host/pipeline_spec.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/sdk/npy.hpp"
#include "tf_test_util.hpp"

#include <doctest/doctest.h>  // glog's CHECK is handled by tests/doctest_prelude.hpp

using namespace ovseg;
using namespace tf_test;
namespace fs = std::filesystem;

namespace {

struct Env {
  fs::path dir = fs::temp_directory_path() / ("ovseg_tf_test_" + std::to_string(::getpid()));
  std::string tiny, wide;
  Env() {
    fs::create_directories(dir);
    setenv("OVSEG_CACHE_DIR", (dir / "cache").c_str(), 1);
    setenv("OVSEG_CLIP_BPE", OVSEG_SHARED_DATA "/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz", 1);
    tiny = (dir / "tiny.pt").string();
    wide = (dir / "wide.pt").string();
    models::save_torchscript_state_dict(wide, model()->state_dict());
  }
  ~Env() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

Env& env() {
  static Env e;
  return e;
}

int shell(const std::string& args, std::string* output = nullptr) {
  const std::string cmd = std::string(OVSEG_CLI) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

at::Tensor run_pipeline(const std::string& name, const std::string& extra = "") {
  const fs::path out = env().dir / (name + (extra.empty() ? "" : "_extra"));
  std::string log;
  const int rc = shell("run " OVSEG_SOURCE_DIR "/pipelines/" + name +
                           ".toml --image " OVSEG_SOURCE_DIR "/pipelines/examples/beach.png --out " + out.string() +
                           " --plugin-dir " OVSEG_TEST_PLUGIN_DIR " --set nodes.clip.model=" + env().tiny +
                           " --set nodes.text.model=" + env().tiny +
                           // `ovseg run` has no data set: the pipelines take their classes
                           // from it under eval, so name VOC21's here (cliptrase_voc20 names its own).
                           (name == "cliptrase_voc20"
                                ? ""
                                : " --set nodes.text.names_file=../host/harness/class_names/cls_voc21.txt") +
                           " " + extra,
                       &log);
  INFO(log);
  REQUIRE(rc == 0);
  CHECK(fs::exists(out / "labels.png"));
  return read_npy((out / "logits.npy").string());
}

// pipelines/NAME.toml through the host with the 2-head, 3-block test model.
RunResult run_with_wide_model(const std::string& name, const at::Tensor& image) {
  std::vector<Override> overrides = {parse_override("nodes.clip.model=\"" + env().wide + "\""),
                                     parse_override("nodes.text.model=\"" + env().wide + "\"")};
  if (name != "cliptrase_voc20")  // no data set here: name VOC21's classes
    overrides.push_back(parse_override("nodes.text.names_file=\"../host/harness/class_names/cls_voc21.txt\""));
  Graph g = build_graph(load_pipeline_spec(OVSEG_SOURCE_DIR "/pipelines/" + name + ".toml", overrides), catalog());
  Executor ex(g, "cpu");
  return ex.run(Image{image});
}

}  // namespace

TEST_CASE("every training-free pipeline runs end to end with ovseg run") {
  if (!fs::exists(env().tiny)) REQUIRE(shell("make-random-clip --preset tiny --out " + env().tiny) == 0);
  std::map<std::string, at::Tensor> logits;
  for (const char* name : {"vanilla", "maskclip", "sclip", "clearclip", "naclip", "cliptrase", "clip_baseline"}) {
    CAPTURE(name);
    at::Tensor l = run_pipeline(name);
    // VOC21 x beach.png: 56 queries (the 26 background words and the person
    // synonyms separate, as SCLIP's query_idx) except CLIPtrase's 21 classes.
    CHECK(l.sizes() == at::IntArrayRef({std::string(name) == "cliptrase" ? 21 : 56, 240, 320}));
    CHECK(at::isfinite(l).all().item<bool>());
    logits[name] = l;
  }
  // vanilla_block re-runs the last block exactly as clip_image does.
  CHECK(rel_diff(logits["vanilla"], logits["clip_baseline"]) < 1e-5);
  CHECK(run_pipeline("cliptrase_voc20").sizes() == at::IntArrayRef({20, 240, 320}));  // VOC20, no background
  // The methods really differ from the baseline.
  logits["vanilla_mean"] = run_pipeline("vanilla", "--set nodes.text.synonyms=\\\"mean\\\"");  // 21 classes
  CHECK(logits["vanilla_mean"].size(0) == 21);
  for (const char* name : {"maskclip", "sclip", "clearclip", "naclip", "cliptrase"}) {
    CAPTURE(name);
    const at::Tensor& base = logits[std::string(name) == "cliptrase" ? "vanilla_mean" : "vanilla"];
    CHECK(rel_diff(logits[name] / logits[name].abs().max(), base / base.abs().max()) > 1e-3);
  }
}

TEST_CASE("cliptrase.toml through the host: prev_tokens, correlation and vote are wired as documented") {
  at::manual_seed(2);
  at::Tensor img = at::rand({1, 3, 48, 64});
  RunResult r = run_with_wide_model("cliptrase", img);

  at::NoGradGuard ng;
  auto fwd = model()->encode_image_tokens(models::normalize_clip_pixels(img), /*keep_all_blocks=*/true);
  const Tokens& prev = std::get<Tokens>(r.values.at("clip.prev_tokens"));
  const Tokens& tokens = std::get<Tokens>(r.values.at("clip.tokens"));
  CHECK(prev.grid_h == 3);
  CHECK(prev.grid_w == 4);
  // 3 blocks: prev_tokens = output of block 0 (entering block 1 = -2).
  CHECK(rel_diff(prev.tokens, fwd.block_tokens[0]) < 1e-6);
  CHECK(rel_diff(tokens.tokens, fwd.penultimate) < 1e-6);
  CHECK(std::get<FeatureMap>(r.values.at("correlation.correlation")).features.sizes() ==
        at::IntArrayRef({1, 12, 3, 4}));
  CHECK(r.labels.labels.sizes() == at::IntArrayRef({1, 48, 64}));
  CHECK(r.labels.labels.equal(std::get<LabelMap>(r.values.at("vote.labels")).labels));  // argmax(vote.logits)
  CHECK(r.logits.logits.equal(std::get<Logits>(r.values.at("vote.logits")).logits));
}

TEST_CASE("cliptrase_voc20.toml: the vote sees the logits weighted by the CLS token's logits") {
  at::manual_seed(3);
  RunResult r = run_with_wide_model("cliptrase_voc20", at::rand({1, 3, 48, 64}));
  const at::Tensor& dense = std::get<Logits>(r.values.at("upsample.logits")).logits;
  const at::Tensor& image_level = std::get<Logits>(r.values.at("cls_logits.logits")).logits;
  const at::Tensor& weighted = std::get<Logits>(r.values.at("weighted.logits")).logits;
  CHECK(dense.sizes() == at::IntArrayRef({1, 20, 48, 64}));
  CHECK(image_level.sizes() == at::IntArrayRef({1, 20, 1, 1}));
  // weighted[k] = dense[k] * cls_logit[k], written out per class.
  for (int64_t k = 0; k < 20; ++k) CHECK(weighted[0][k].equal(dense[0][k] * image_level[0][k][0][0]));
  // The CLS logits are the refinement's CLS output against the text: they
  // vary by class, so the weighting is not a uniform rescale.
  CHECK(image_level.max().item<double>() - image_level.min().item<double>() > 1e-3);
  CHECK(r.labels.labels.sizes() == at::IntArrayRef({1, 48, 64}));
}

TEST_CASE("class_weighting names the node and the expected shape on bad input") {
  auto stage = make_stage("class_weighting");
  MapStageContext ctx("weighted");
  ctx.inputs["logits"] = Logits{at::rand({1, 4, 6, 6}), {}};
  ctx.inputs["weights"] = Logits{at::rand({1, 3, 1, 1}), {}};
  try {
    stage->run(ctx);
    FAIL("expected an error");
  } catch (const std::exception& e) {
    const std::string msg = e.what();
    CHECK(msg.find("weighted") != std::string::npos);
    CHECK(msg.find("weights") != std::string::npos);
    CHECK(msg.find("(1, 3, 1, 1)") != std::string::npos);
    CHECK(msg.find("expected (1, 4, 1, 1)") != std::string::npos);
  }
  ctx.inputs["weights"] = Logits{at::full({1, 4, 1, 1}, 2.0), {}};
  stage->run(ctx);
  CHECK(
      std::get<Logits>(ctx.outputs.at("logits")).logits.equal(std::get<Logits>(ctx.inputs.at("logits")).logits * 2.0));
}

TEST_CASE("every training-free pipeline completes ovseg eval on COCO-Object and stores a record") {
  if (!fs::exists(env().tiny)) REQUIRE(shell("make-random-clip --preset tiny --out " + env().tiny) == 0);
  const fs::path results = env().dir / "results";
  for (const char* name : {"vanilla", "maskclip", "sclip", "clearclip", "naclip", "cliptrase", "cliptrase_voc20"}) {
    CAPTURE(name);
    std::string log;
    const int rc = shell("eval " OVSEG_SOURCE_DIR "/pipelines/" + std::string(name) +
                             ".toml --dataset coco_object --data-root " OVSEG_SHARED_DATA
                             "/coco-object-val2017-mini --limit 1 --quiet --results " +
                             results.string() + " --plugin-dir " OVSEG_TEST_PLUGIN_DIR " --set nodes.clip.model=" +
                             env().tiny + " --set nodes.text.model=" + env().tiny +
                             " --set nodes.text.names_file=../host/harness/class_names/cls_coco_object.txt",
                         &log);
    INFO(log);
    CHECK(rc == 0);
    bool stored = false;
    for (const auto& e : fs::directory_iterator(results))
      stored |= e.path().filename().string().rfind(std::string(name) + "__coco_object__val__", 0) == 0 &&
                e.path().extension() == ".json" && e.path().string().find(".partial") == std::string::npos;
    CHECK(stored);
  }
}
