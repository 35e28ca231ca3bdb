// pamr and densecrf wired into a TOML pipeline and run by the real executor,
// between resize_logits and argmax (how NACLIP and DeepLab-style pipelines
// use them).
#include <algorithm>

#include "ovseg/host/executor.hpp"
#include "ovseg/host/graph.hpp"
#include "ovseg/host/pipeline_spec.hpp"
#include "postprocess/postprocess_test_util.hpp"

using namespace ovseg;

namespace {

const char* kPipeline = R"(
[nodes.encoder]
plugin = "pixel_features"
inputs = { image = "input.image" }
patch_size = 8
mean = [0.5, 0.5, 0.5]
std = [0.25, 0.25, 0.25]

[nodes.classes]
plugin = "class_embeddings"
class_names = ["dark", "bright"]
embeddings = [-1.0, -1.0, -1.0,  1.0, 1.0, 1.0]

[nodes.logits]
plugin = "cosine_logits"
inputs = { features = "encoder.features", text = "classes.embeddings" }
logit_scale = 40.0

[nodes.upsample]
plugin = "resize_logits"
inputs = { logits = "logits.logits", image = "input.image" }

[nodes.pamr]
plugin = "pamr"
inputs = { logits = "upsample.logits", image = "input.image" }

[nodes.crf]
plugin = "densecrf"
inputs = { logits = "pamr.logits", image = "input.image" }
class_override_names = ["bright"]
class_override_w_appearance = [6.0]

[nodes.labels]
plugin = "argmax"
inputs = { logits = "crf.logits" }
)";

}  // namespace

TEST_CASE("pamr and densecrf run in a pipeline after resize_logits") {
  PluginCatalog catalog;
  catalog.load_directory(OVSEG_TEST_PLUGIN_DIR);
  // A bright disc on a dark background: coarse patch logits, pixel-sharp edges.
  const int64_t h = 64, w = 80;
  const at::Tensor yy = at::arange(h).view({h, 1}).to(at::kFloat), xx = at::arange(w).view({1, w}).to(at::kFloat);
  const at::Tensor disc = ((yy - 30).pow(2) + (xx - 37).pow(2) < 19.0 * 19.0);
  const at::Tensor image = at::where(disc, at::full({}, 0.9f), at::full({}, 0.1f)).expand({1, 3, h, w}).contiguous();

  Graph g = build_graph(parse_pipeline_spec(kPipeline, "postprocess.toml"), catalog);
  Executor ex(g, "cpu");
  const RunResult r = ex.run(Image{image});
  const at::Tensor up = std::get<Logits>(r.values.at("upsample.logits")).logits;
  const at::Tensor crf = std::get<Logits>(r.values.at("crf.logits")).logits;
  CHECK(crf.sizes() == at::IntArrayRef({1, 2, h, w}));
  CHECK(std::get<Logits>(r.values.at("crf.logits")).class_names == std::vector<std::string>{"dark", "bright"});
  const at::Tensor labels = std::get<LabelMap>(r.values.at("labels.labels")).labels[0];
  auto errors = [&](const at::Tensor& l) { return (l != disc.to(at::kLong)).sum().item<int64_t>(); };
  const int64_t coarse = errors(up[0].argmax(0)), refined = errors(labels);
  MESSAGE("disc boundary errors: resize_logits " << coarse << ", + pamr + densecrf " << refined);
  CHECK(coarse > 20);
  CHECK(refined * 4 < coarse);
}
