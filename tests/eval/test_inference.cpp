// The protocol runner on real plugins: phase split, stitching of a
// constant-logit pipeline, labels at the label size, and the errors.
// ATen before doctest: c10 defines its own CHECK, doctest must win.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <opencv2/core.hpp>

#include "eval_test_util.hpp"
#include "ovseg/host/graph.hpp"
#include "ovseg/host/inference.hpp"
#include "ovseg/sdk/diagnostics.hpp"

using namespace ovseg;
using namespace eval_test;

namespace {

Graph colour_graph(const std::vector<Override>& overrides = {}) {
  return build_graph(load_pipeline_spec(kColourPipeline, overrides), catalog());
}

}  // namespace

TEST_CASE("the graph splits at [outputs] logits: window phase = its ancestors") {
  Graph g = colour_graph();
  ProtocolRunner runner(g, parse_protocol(g.spec), "cpu");
  std::vector<std::string> window, image;
  for (size_t i = 0; i < g.nodes.size(); ++i) (runner.window_phase()[i] ? window : image).push_back(g.nodes[i].id);
  std::sort(window.begin(), window.end());
  CHECK((window == std::vector<std::string>{"classes", "encoder", "logits", "refine", "upsample"}));
  CHECK((image == std::vector<std::string>{"labels"}));
}

TEST_CASE("stitching a constant-logit pipeline reproduces the constant") {
  // A uniform image gives the same colour token everywhere, hence the same
  // logit vector at every pixel of every window: averaging must keep it.
  Graph g = colour_graph();
  Protocol p;  // window 224, stride 112
  ProtocolRunner runner(g, p, "cpu");
  at::Tensor image = at::empty({1, 3, 336, 448});
  image.select(1, 0).fill_(0.2f);
  image.select(1, 1).fill_(0.5f);
  image.select(1, 2).fill_(0.9f);
  int windows = 0;
  at::Tensor stitched = runner.stitched_logits(image, nullptr, &windows);
  CHECK(windows == 6);
  REQUIRE(stitched.sizes() == at::IntArrayRef({1, 6, 336, 448}));
  at::Tensor centre = stitched.select(2, 0).select(2, 0).view({1, 6, 1, 1});
  CHECK((stitched - centre).abs().max().item<float>() < 1e-4f);
  // The same constant as the whole image in one pass.
  Protocol whole = p;
  whole.mode = "whole";
  ProtocolRunner whole_runner(g, whole, "cpu");
  at::Tensor w = whole_runner.stitched_logits(image);
  // (float32 sums over a different number of tokens: agree to ~1e-5 relative)
  CHECK((w - centre).abs().max().item<float>() < 1e-3f);
  CHECK(centre.abs().max().item<float>() > 1.0f);  // not trivially zero
}

TEST_CASE("predict: labels at the label size, small images, one batch of windows") {
  Graph g = colour_graph();
  ProtocolRunner runner(g, Protocol{}, "cpu");
  at::Tensor image = at::rand({1, 3, 120, 90});  // smaller than the window
  Prediction pr = runner.predict(image, 60, 45);
  CHECK(pr.num_windows == 1);
  REQUIRE(pr.labels.sizes() == at::IntArrayRef({60, 45}));
  CHECK(pr.labels.min().item<int64_t>() >= 0);
  CHECK(pr.labels.max().item<int64_t>() < 6);
  CHECK(pr.class_names.size() == 6);
  // Every node but argmax, whose labels the harness makes itself (at the
  // label size, by class tiles) from the logits argmax would read.
  CHECK(pr.timings.size() == g.nodes.size() - 1);

  // preprocess_image: mmseg's resize, BGR -> RGB, [0, 1].
  cv::Mat bgr(480, 640, CV_8UC3, cv::Scalar(255, 0, 51));  // B=255, G=0, R=51
  at::Tensor t = preprocess_image(bgr, Protocol{});
  REQUIRE(t.sizes() == at::IntArrayRef({1, 3, 336, 448}));
  CHECK(t[0][0][10][10].item<float>() == doctest::Approx(0.2));
  CHECK(t[0][2][10][10].item<float>() == doctest::Approx(1.0));
}

TEST_CASE("logits not at window resolution are rejected naming the node and shapes") {
  // Without the upsample node the cosine logits are at patch resolution.
  Graph g = colour_graph(
      {parse_override("outputs.logits=logits.logits"), parse_override("nodes.labels.inputs.logits=logits.logits")});
  ProtocolRunner runner(g, Protocol{}, "cpu");
  try {
    runner.stitched_logits(at::rand({1, 3, 224, 300}));
    FAIL("must throw");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(e.node() == "logits");
    CHECK(msg.find("(2, 3, 224, 224)") != std::string::npos);
    CHECK(msg.find("resize_logits") != std::string::npos);
  }
}

TEST_CASE("one background knob: protocol.prob_thd; argmax's probability_threshold is its deprecated alias") {
  const at::Tensor image = at::rand({1, 3, 120, 90});
  auto labels_with = [&](const std::vector<Override>& overrides) {
    Graph g = colour_graph(overrides);
    ProtocolRunner runner(g, parse_protocol(g.spec), "cpu");
    return runner.predict(image, 60, 45).labels;
  };
  const at::Tensor plain = labels_with({});
  const at::Tensor knob = labels_with({parse_override("protocol.prob_thd=0.9")});
  // The alias lands on the knob (the record's protocol shows it) ...
  const Graph aliased = colour_graph({parse_override("nodes.labels.probability_threshold=0.9")});
  CHECK(parse_protocol(aliased.spec).prob_thd == 0.9);
  // ... and labels exactly as the knob does.
  CHECK(labels_with({parse_override("nodes.labels.probability_threshold=0.9")}).equal(knob));
  CHECK_FALSE(knob.equal(plain));  // not trivial: the threshold moved pixels to class 0
  CHECK(knob.ne(plain).logical_and(knob.ne(0)).sum().item<int64_t>() == 0);  // only to class 0
  // Two different values for the one knob: an error naming both places.
  std::string msg = "no error";
  try {
    colour_graph({parse_override("protocol.prob_thd=0.5"), parse_override("nodes.labels.probability_threshold=0.3")});
  } catch (const Error& e) {
    msg = e.what();
  }
  CHECK(msg.find("deprecated spelling of protocol.prob_thd") != std::string::npos);
  CHECK(msg.find("node 'labels'") != std::string::npos);
}

TEST_CASE("labels by class tiles (window resize, stitching, label-size resize) equal the untiled labels") {
  Graph g = colour_graph();
  const at::Tensor image = at::rand({1, 3, 150, 260});  // 2 x 3 windows of 112 at stride 74
  Protocol p;
  p.window = 112;
  p.stride = 74;
  ProtocolRunner whole(g, p, "cpu");
  whole.keep_logits(true);  // the untiled path: stitched logits kept
  const Prediction untiled = whole.predict(image, 201, 97);
  REQUIRE(untiled.logits.defined());
  CHECK(untiled.num_windows == 6);
  for (int64_t classes_per_tile : {1, 2, 4, 5, 6}) {  // 1 means 2 (no 1-class tiles); 5 leaves none of 1
    CAPTURE(classes_per_tile);
    ProtocolRunner tiled(g, p, "cpu");
    tiled.class_tile_bytes(classes_per_tile * 6 * 112 * 112 * static_cast<int64_t>(sizeof(float)));
    const Prediction pr = tiled.predict(image, 201, 97);
    CHECK_FALSE(pr.logits.defined());  // the tiled path ran
    CHECK(pr.labels.equal(untiled.labels));
    CHECK(pr.class_names == untiled.class_names);
    CHECK(pr.timings.size() == untiled.timings.size());
  }
  CHECK(untiled.labels.min().item<int64_t>() != untiled.labels.max().item<int64_t>());  // not trivial
}
