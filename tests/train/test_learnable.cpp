// Learnable stages in the executor: parameters and buffers, `trainable`
// patterns, weights files (round trip and every error), train mode with
// auxiliary losses and gradients, the host vocabulary, and a node's private
// copy of a shared foundation model.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x
#include <doctest/doctest.h>

#include "ovseg/host/executor.hpp"
#include "ovseg/host/graph.hpp"
#include "ovseg/host/stage_weights.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/sdk/diagnostics.hpp"
#include "train_test_util.hpp"

using namespace ovseg;
using namespace train_test;

namespace {

const PluginCatalog& catalog() {
  static const PluginCatalog c = discover_plugins({OVSEG_TEST_PLUGIN_DIR, kToyPlugins});
  return c;
}

Graph toy_graph(const std::string& node_extra = "", const std::string& file = "toy.toml") {
  return build_graph(parse_pipeline_spec("[nodes.head]\nplugin = \"toy_head\"\ninputs = { image = \"input.image\" }\n" +
                                             node_extra,
                                         file),
                     catalog());
}

Error executor_error(const Graph& g) {
  try {
    Executor ex(g, "cpu");
    ex.learnable_tensors();
  } catch (const Error& e) {
    return e;
  }
  FAIL("expected an ovseg::Error");
  return Error({}, "", "");
}

const LearnableTensor& find(const std::vector<LearnableTensor>& ts, const std::string& key) {
  for (const auto& t : ts)
    if (t.key() == key) return t;
  FAIL("no tensor " << key);
  return ts.front();
}

}  // namespace

TEST_CASE("glob patterns: '*' spans dots, '?' one character") {
  CHECK(glob_match("visual.*.attn.q_proj_weight", "visual.transformer.resblocks.11.attn.q_proj_weight"));
  CHECK_FALSE(glob_match("visual.*.attn.q_proj_weight", "visual.transformer.resblocks.11.attn.k_proj_weight"));
  CHECK(glob_match("*", "anything.at.all"));
  CHECK(glob_match("proj.?eight", "proj.weight"));
  CHECK_FALSE(glob_match("proj", "proj.weight"));
}

TEST_CASE("learnable tensors: the stage's defaults, or the node's trainable patterns") {
  Graph g = toy_graph();
  Executor ex(g, "cpu");
  const auto& ts = ex.learnable_tensors();
  REQUIRE(ts.size() == 3);
  CHECK(find(ts, "head.proj.weight").trainable);
  CHECK(find(ts, "head.proj.bias").trainable);
  CHECK(find(ts, "head.calls").buffer);
  CHECK_FALSE(find(ts, "head.calls").trainable);

  Graph only_w = toy_graph("trainable = [\"proj.w*\"]\n");
  Executor ex2(only_w, "cpu");
  CHECK(find(ex2.learnable_tensors(), "head.proj.weight").trainable);
  CHECK_FALSE(find(ex2.learnable_tensors(), "head.proj.bias").trainable);

  Graph none = toy_graph("trainable = []\n");
  Executor ex3(none, "cpu");
  CHECK_FALSE(find(ex3.learnable_tensors(), "head.proj.weight").trainable);

  const Error e = executor_error(toy_graph("trainable = [\"proj.wieght\"]\n"));
  CHECK(e.where().line == 4);
  CHECK(e.node() == "head");
  CHECK(contains(e.what(), "'proj.wieght' matches none of the 2 parameters"));
  CHECK(contains(e.what(), "proj.weight"));
}

TEST_CASE("weights files: round trip, and each error names the node and the key") {
  TempDir dir;
  Graph g = toy_graph();
  Executor ex(g, "cpu");
  {
    at::NoGradGuard no_grad;
    find(ex.learnable_tensors(), "head.proj.weight").tensor.fill_(0.25);
    find(ex.learnable_tensors(), "head.calls").tensor.fill_(7);
  }
  const std::string file = dir.file("w.safetensors");
  save_stage_weights(file, ex.learnable_tensors(), {{"ovseg.pipeline", "toy"}});
  CHECK(weights_file_nodes(file) == std::vector<std::string>{"head"});

  Graph loaded = toy_graph("weights = \"" + file + "\"\n");
  Executor ex2(loaded, "cpu");
  CHECK(find(ex2.learnable_tensors(), "head.proj.weight").tensor.eq(0.25).all().item<bool>());
  CHECK(find(ex2.learnable_tensors(), "head.calls").tensor.item<float>() == 7.0f);

  auto write = [&](const std::string& name, const models::StateDict& sd) {
    models::save_safetensors(dir.file(name), sd);
    return dir.file(name);
  };
  const at::Tensor w = at::zeros({2, 3}), b = at::zeros({2}), calls = at::zeros({1});
  Error e = executor_error(toy_graph("weights = \"" + dir.file("missing.safetensors") + "\"\n"));
  CHECK(contains(e.what(), "not found"));
  CHECK(e.where().line == 4);

  e = executor_error(toy_graph(
      "weights = \"" +
      write("unknown.safetensors", {{"head.proj.weight", w}, {"head.proj.bais", b}, {"head.calls", calls}}) + "\"\n"));
  CHECK(e.node() == "head");
  CHECK(contains(e.what(), "'head.proj.bais'"));
  CHECK(contains(e.what(), "proj.bias"));

  e = executor_error(
      toy_graph("weights = \"" +
                write("shape.safetensors",
                      {{"head.proj.weight", at::zeros({3, 3})}, {"head.proj.bias", b}, {"head.calls", calls}}) +
                "\"\n"));
  CHECK(contains(e.what(), "'head.proj.weight' has shape (3, 3), the stage's has (2, 3)"));

  e = executor_error(toy_graph("weights = \"" + write("other.safetensors", {{"clip.visual.proj", w}}) + "\"\n"));
  CHECK(contains(e.what(), "holds no tensors for node 'head' (it holds nodes clip)"));

  e = executor_error(toy_graph(
      "weights = \"" + write("partial.safetensors", {{"head.proj.weight", w}, {"head.calls", calls}}) + "\"\n"));
  CHECK(contains(e.what(), "lacks 'head.proj.bias', a trainable parameter of this node"));
  // With only the weight declared trainable, the same file is complete.
  Graph narrowed = toy_graph("trainable = [\"proj.weight\"]\nweights = \"" + dir.file("partial.safetensors") + "\"\n");
  CHECK_NOTHROW(Executor(narrowed, "cpu"));
}

TEST_CASE("train mode: auxiliary losses and gradients; eval mode: neither") {
  Graph g = toy_graph();
  Executor ex(g, "cpu", {{"grass", "lawn"}, {"water"}, {"sand"}});
  const Image img{at::rand({2, 3, 8, 8})};
  auto eval_out = ex.run(img);
  CHECK(eval_out.logits.class_names == std::vector<std::string>{"grass", "water", "sand"});
  CHECK_FALSE(eval_out.logits.logits.requires_grad());
  CHECK(ex.aux_losses().empty());

  ex.set_training(true);
  auto train_out = ex.run(img);
  CHECK(train_out.logits.logits.requires_grad());
  REQUIRE(ex.aux_losses().count("head.l2") == 1);
  train_out.logits.logits.sum().backward();
  CHECK(find(ex.learnable_tensors(), "head.proj.weight").tensor.grad().defined());
  CHECK(find(ex.learnable_tensors(), "head.calls").tensor.item<float>() == 1.0f);
}

TEST_CASE("clip_image: a node that loads weights works on its own copy of the shared model") {
  TempDir dir;
  const std::string toml = "[nodes.clip]\nplugin = \"clip_image\"\ninputs = { image = \"input.image\" }\nmodel = \"" +
                           kEmbeddedClip + "\"\n[nodes.text]\nplugin = \"clip_text\"\nmodel = \"" + kEmbeddedClip +
                           "\"\nclass_names = [\"grass\", \"water\"]\ntemplates = \"single\"\ncache = false\n"
                           "[nodes.logits]\nplugin = \"cosine_logits\"\ninputs = { features = \"clip.features\", text "
                           "= \"text.embeddings\" }\n";
  Graph plain = build_graph(parse_pipeline_spec(toml, "a.toml"), catalog());
  Executor reference(plain, "cpu");
  const Image img{at::rand({1, 3, 32, 32})};
  const at::Tensor before = reference.run(img).logits.logits;

  // Weights whose q projection of block 0 is zero: a different model.
  Executor trainee(plain, "cpu");
  std::vector<LearnableTensor> ts = trainee.learnable_tensors();
  for (auto& t : ts) t.trainable = t.name == "visual.transformer.resblocks.0.attn.q_proj_weight";
  {
    at::NoGradGuard no_grad;
    find(ts, "clip.visual.transformer.resblocks.0.attn.q_proj_weight").tensor.zero_();
  }
  save_stage_weights(dir.file("q0.safetensors"), ts);
  CHECK_FALSE(trainee.run(img).logits.logits.equal(before));

  Graph with_weights = build_graph(
      parse_pipeline_spec(toml, "a.toml",
                          {parse_override("nodes.clip.weights=\"" + dir.file("q0.safetensors") + "\""),
                           parse_override("nodes.clip.trainable=[\"*.0.attn.q_proj_weight\"]")}),
      catalog());
  Executor loaded(with_weights, "cpu");
  CHECK(loaded.run(img).logits.logits.allclose(trainee.run(img).logits.logits, 0, 1e-6));
  // The shared copy every other node and pipeline uses is untouched.
  CHECK(reference.run(img).logits.logits.equal(before));
}
