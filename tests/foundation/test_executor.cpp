// The executor: dependency order, outputs, default labels, error wrapping
// (the failing node is named) and device selection.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>
#include <torch/version.h>

#include "foundation_util.hpp"
#include "ovseg/host/device.hpp"
#include "ovseg/host/executor.hpp"
#include "ovseg/sdk/npy.hpp"

using namespace ovseg;
using namespace ovseg_test;

namespace {

// (1,3,h,w): left half black, right half white.
at::Tensor half_black_half_white(int64_t h = 8, int64_t w = 8) {
  at::Tensor img = at::zeros({1, 3, h, w}, at::kFloat);
  img.narrow(3, w / 2, w - w / 2).fill_(1.0);
  return img;
}

std::vector<std::string> timing_order(const RunResult& r) {
  std::vector<std::string> ids;
  for (const auto& t : r.timings) ids.push_back(t.node);
  return ids;
}

// Nodes written consumer first; their ids sort in the same (wrong) order.
const std::string kReversed = R"([nodes.a_last]
plugin = "record_order"
inputs = { after = "m_middle.logits" }

[nodes.m_middle]
plugin = "record_order"
inputs = { after = "z_first.logits" }

[nodes.z_first]
plugin = "record_order"
inputs = { image = "input.image" }
)";

// record_order -> misbehave(mode), misbehave's output is the pipeline's.
std::string misbehaving(const std::string& mode) {
  return "[nodes.src]\nplugin = \"record_order\"\ninputs = { image = \"input.image\" }\n\n"
         "[nodes.bad]\nplugin = \"misbehave\"\ninputs = { logits = \"src.logits\" }\nmode = \"" +
         mode + "\"\n\n[outputs]\nlogits = \"bad.logits\"\n";
}

Error run_error(const std::string& toml) {
  const Graph g = build(toml);
  return catch_error([&] {
    Executor ex(g, "cpu");
    ex.run(Image{half_black_half_white()});
  });
}

}  // namespace

TEST_CASE("nodes run in dependency order, not file order") {
  const Graph g = build(kReversed);
  std::vector<std::string> graph_order;
  for (const auto& n : g.nodes) graph_order.push_back(n.id);
  CHECK(graph_order == std::vector<std::string>{"z_first", "m_middle", "a_last"});

  Executor ex(g, "cpu");
  CHECK(ex.device().is_cpu());
  const RunResult r = ex.run(Image{at::rand({1, 3, 5, 7})});
  CHECK(timing_order(r) == std::vector<std::string>{"z_first", "m_middle", "a_last"});
  for (const auto& t : r.timings) CHECK(t.milliseconds >= 0.0);
  // The trace the data carried agrees.
  CHECK(r.logits.class_names == std::vector<std::string>{"z_first", "m_middle", "a_last"});
  CHECK(r.logits.logits.sizes() == at::IntArrayRef({1, 3, 5, 7}));
  // Every node's outputs and the input are kept under "node.port".
  CHECK(r.values.count("input.image") == 1);
  CHECK(r.values.count("z_first.logits") == 1);
  CHECK(std::get<Logits>(r.values.at("m_middle.logits")).class_names ==
        std::vector<std::string>{"z_first", "m_middle"});
}

TEST_CASE("a node with two producers runs after both") {
  const std::string text = R"([nodes.join]
plugin = "record_order"
inputs = { after = "right.logits", image = "input.image" }

[nodes.right]
plugin = "record_order"
inputs = { after = "root.logits" }

[nodes.root]
plugin = "record_order"
inputs = { image = "input.image" }
)";
  const Graph g = build(text);
  Executor ex(g, "cpu");
  const RunResult r = ex.run(Image{at::rand({2, 3, 4, 4})});
  CHECK(timing_order(r) == std::vector<std::string>{"root", "right", "join"});
  CHECK(r.logits.logits.sizes() == at::IntArrayRef({2, 3, 4, 4}));  // batch carried through
  // Running twice gives the same result (stages are reusable).
  const RunResult again = ex.run(Image{at::rand({2, 3, 4, 4})});
  CHECK(again.logits.class_names == r.logits.class_names);
  CHECK(timing_order(again) == timing_order(r));
}

TEST_CASE("without [outputs] labels, labels are the argmax of the logits") {
  const Graph g = build(kReversed);
  REQUIRE_FALSE(g.labels_output.has_value());
  Executor ex(g, "cpu");
  const RunResult r = ex.run(Image{at::rand({1, 3, 3, 4})});
  // record_order's logits are k for class k: the last class wins everywhere.
  CHECK(r.labels.labels.sizes() == at::IntArrayRef({1, 3, 4}));
  CHECK((r.labels.labels.scalar_type() == at::kLong));
  CHECK(r.labels.labels.eq(2).all().item<bool>());
  CHECK(r.labels.class_names == r.logits.class_names);
}

TEST_CASE("the mini pipeline segments black from white") {
  const Graph g = build(kMiniPipeline);
  Executor ex(g, "cpu");
  const RunResult r = ex.run(Image{half_black_half_white()});
  CHECK(timing_order(r) == std::vector<std::string>{"encoder", "classes", "logits"});
  REQUIRE(r.logits.logits.sizes() == at::IntArrayRef({1, 2, 2, 2}));  // patch resolution
  CHECK(r.logits.class_names == std::vector<std::string>{"dark", "light"});
  // Cosine of +-1 scaled by logit_scale = 10.
  CHECK(r.logits.logits[0][0][0][0].item<float>() == doctest::Approx(10.0).epsilon(1e-5));
  CHECK(r.logits.logits[0][0][0][1].item<float>() == doctest::Approx(-10.0).epsilon(1e-5));
  const at::Tensor expected = at::tensor({0, 1, 0, 1}, at::kLong).view({1, 2, 2});
  CHECK(r.labels.labels.equal(expected));
}

TEST_CASE("an explicit labels output is used; argmax's deprecated threshold moves to the protocol") {
  const std::string text = kMiniPipeline +
                           "labels = \"labels.labels\"\n\n[nodes.labels]\nplugin = \"argmax\"\n"
                           "inputs = { logits = \"logits.logits\" }\nprobability_threshold = 0.99\n";
  const Graph g = build(text);
  REQUIRE(g.labels_output.has_value());
  // One knob: the threshold is protocol.prob_thd (applied by the harness's
  // final labelling, tests/eval/test_inference.cpp); the stage is an argmax.
  REQUIRE(g.spec.protocol.count("prob_thd"));
  CHECK(std::get<double>(g.spec.protocol.at("prob_thd").value) == 0.99);
  Executor ex(g, "cpu");
  const RunResult r = ex.run(Image{half_black_half_white()});
  CHECK(r.labels.labels.equal(r.logits.logits.argmax(1)));
  CHECK(timing_order(r).back() == "labels");  // the labels node ran
}

TEST_CASE("nodes no output depends on are neither instantiated nor run") {
  // `dead_init` would throw on construction, `dead_run` in run(), `dead_tail`
  // reads the latter: none of them feeds [outputs].
  const std::string text =
      "[nodes.src]\nplugin = \"record_order\"\ninputs = { image = \"input.image\" }\n\n"
      "[nodes.out]\nplugin = \"record_order\"\ninputs = { after = \"src.logits\" }\n\n"
      "[nodes.dead_init]\nplugin = \"misbehave\"\ninputs = { logits = \"src.logits\" }\n"
      "mode = \"throw_in_init\"\n\n"
      "[nodes.dead_run]\nplugin = \"misbehave\"\ninputs = { logits = \"src.logits\" }\n"
      "mode = \"throw_in_run\"\n\n"
      "[nodes.dead_tail]\nplugin = \"record_order\"\ninputs = { after = \"dead_run.logits\" }\n\n"
      "[outputs]\nlogits = \"out.logits\"\n";
  const Graph g = build(text);
  REQUIRE(g.nodes.size() == 5);
  Executor ex(g, "cpu");
  const RunResult r = ex.run(Image{at::rand({1, 3, 4, 4})});
  CHECK(timing_order(r) == std::vector<std::string>{"src", "out"});
  CHECK(r.logits.class_names == std::vector<std::string>{"src", "out"});
  CHECK(r.values.count("dead_run.logits") == 0);
}

TEST_CASE("relative parameter paths resolve against the pipeline's folder") {
  TempDir dir;
  write_npy(dir.file("emb.npy"), at::tensor({-1.f, -1.f, -1.f, 1.f, 1.f, 1.f}).view({2, 3}));
  const std::string text = replace_once(kMiniPipeline, "embeddings = [-1, -1, -1, 1, 1, 1]", "file = \"emb.npy\"");
  write_file(dir.file("p.toml"), text);
  const Graph g = build_graph(load_pipeline_spec(dir.file("p.toml")), catalog());
  Executor ex(g, "cpu");
  const RunResult r = ex.run(Image{half_black_half_white()});
  CHECK(r.labels.labels.equal(at::tensor({0, 1, 0, 1}, at::kLong).view({1, 2, 2})));
}

TEST_CASE("a plugin that throws in run() is named in the error") {
  const std::string text = misbehaving("throw_in_run");
  const Error e = run_error(text);
  check_error(e, "mem.toml", line_of(text, "[nodes.bad]"), "bad",
              {"plugin 'misbehave' failed: deliberate failure in run()"});
}

TEST_CASE("out of memory in a node is named with the node, its plugin and its input shapes") {
  for (const std::string mode : {"bad_alloc", "huge_tensor"}) {
    CAPTURE(mode);
    const std::string text = misbehaving(mode);
    const Error e = run_error(text);
    check_error(e, "mem.toml", line_of(text, "[nodes.bad]"), "bad",
                {"out of memory (", "in plugin 'misbehave' on inputs logits (1, 1, 8, 8)"});
    CHECK(std::string(e.what()).find('\n') == std::string::npos);  // no c10 stack trace
  }
}

TEST_CASE("a plugin that throws while starting is named in the error") {
  const std::string text = misbehaving("throw_in_init");
  const Graph g = build(text);
  const Error e = catch_error([&] { Executor ex(g, "cpu"); });
  check_error(e, "mem.toml", line_of(text, "[nodes.bad]"), "bad",
              {"plugin 'misbehave' failed to initialise: misbehave refuses to start"});
}

TEST_CASE("a real plugin's constructor error is wrapped too") {
  const std::string text = replace_once(kMiniPipeline, "class_names = [\"dark\", \"light\"]\n", "");
  const Graph g = build(text);
  const Error e = catch_error([&] { Executor ex(g, "cpu"); });
  check_error(e, "mem.toml", line_of(text, "[nodes.classes]"), "classes",
              {"plugin 'class_embeddings' failed to initialise", "no classes"});
}

TEST_CASE("a plugin that forgets to set its output") {
  const std::string text = misbehaving("forget_output");
  check_error(run_error(text), "mem.toml", line_of(text, "[nodes.bad]"), "bad",
              {"plugin 'misbehave' did not set output 'logits'"});
}

TEST_CASE("a plugin that sets a wrong-typed or undeclared output, or reads an unwired input") {
  SUBCASE("wrong type") {
    const Error e = run_error(misbehaving("wrong_type"));
    CHECK(e.node() == "bad");
    CHECK(contains(e.what(), "sets output 'logits' to LabelMap, declared Logits"));
  }
  SUBCASE("undeclared") {
    const Error e = run_error(misbehaving("undeclared_output"));
    CHECK(e.node() == "bad");
    CHECK(contains(e.what(), "sets undeclared output 'extra'"));
  }
  SUBCASE("unwired input") {
    const Error e = run_error(misbehaving("read_unwired"));
    CHECK(e.node() == "bad");
    CHECK(contains(e.what(), "reads input 'image', which is not connected"));
  }
  SUBCASE("behaving") {
    const Graph g = build(misbehaving("ok"));
    Executor ex(g, "cpu");
    const RunResult r = ex.run(Image{half_black_half_white()});
    CHECK(r.logits.class_names == std::vector<std::string>{"src"});
  }
}

TEST_CASE("a bad input image shape is refused before any node runs") {
  const Graph g = build(kMiniPipeline);
  Executor ex(g, "cpu");
  CHECK_THROWS_AS(ex.run(Image{at::zeros({1, 1, 8, 8})}), std::invalid_argument);
}

TEST_CASE("device strings") {
  CHECK(parse_device("cpu").is_cpu());
  for (const char* bad : {"tpu", "gpu", "cuda:", "cuda:x", "cuda1", "CPU", ""}) {
    const Error e = catch_error([&] { parse_device(bad); });
    INFO(bad);
    CHECK(contains(e.what(), std::string("unknown device '") + bad + "'"));
    CHECK(contains(e.fix(), "use cpu, cuda or cuda:N"));
  }
  const Graph g = build(kMiniPipeline);
  const Error e = catch_error([&] { Executor ex(g, "tpu"); });
  CHECK(contains(e.what(), "unknown device 'tpu'"));
  CHECK(contains(device_summary(), "LibTorch"));
}

TEST_CASE("records say the device: the CPU's values") {
  const nlohmann::json r = device_record("cpu");
  CHECK(r["name"] == "cpu");
  CHECK(r["kind"] == "cpu");
  CHECK(r["libtorch"] == TORCH_VERSION);
  CHECK(r["threads"].get<int>() == at::get_num_threads());
  CHECK(r["thread_policy"].is_string());
  CHECK(contains(r["summary"].get<std::string>(), TORCH_VERSION));
  CHECK(r["gpu"].is_null());     // the CPU has no GPU name
  CHECK(r["driver"].is_null());  // nor a driver, even where one is installed
#ifdef OVSEG_TORCH_HAS_CUDA
  // A CUDA LibTorch says which CUDA and cuDNN it was built with, GPU or not.
  const std::string cuda = r["cuda"].get<std::string>();
  INFO(cuda);
  CHECK(cuda.find('.') != std::string::npos);
  CHECK(std::stoi(cuda) >= 11);
  if (r["cudnn"].is_string()) CHECK(std::stoi(r["cudnn"].get<std::string>()) >= 8);
#else
  CHECK(r["cuda"].is_null());  // Debian's LibTorch 1.13 is CPU-only
  CHECK(r["cudnn"].is_null());
#endif
  CHECK(default_device() == (cuda_available() ? "cuda" : "cpu"));
  CHECK_THROWS_AS(device_record("tpu"), Error);
}

TEST_CASE("asking for CUDA without it is a clear error") {
  if (cuda_available()) {
    MESSAGE("CUDA is available here; the no-CUDA error cannot be checked");
    return;
  }
  const Graph g = build(kMiniPipeline);
  for (const char* dev : {"cuda", "cuda:0", "cuda:3"}) {
    const Error e = catch_error([&] { Executor ex(g, dev); });
    const std::string message = e.what();
    INFO(message);
    CHECK(contains(e.what(), std::string("device '") + dev + "' requested but"));
    CHECK(contains(e.fix(), "cpu"));
    CHECK(std::string(e.what()).find('\n') == std::string::npos);
  }
  CHECK(contains(device_summary(), "CPU only"));
}
