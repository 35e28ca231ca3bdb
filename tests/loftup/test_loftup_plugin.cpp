// The loftup plugin: the stage's outputs, the stage-1 pseudo ground truth
// and its loss (restated here from the plugin's documented definition), and
// `ovseg train` / `ovseg eval` of a LoftUp pipeline on a small world whose
// instance maps stand in for SAM's masks.
#include <doctest/doctest.h>

#include <limits>

#include <nlohmann/json.hpp>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x

#include "eval/eval_test_util.hpp"
#include "ovseg/host/map_stage_context.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/models/loftup.hpp"
#include "ovseg/world/world.hpp"

namespace {

namespace fs = std::filesystem;
using namespace ovseg;
using eval_test::catalog;
using eval_test::contains;
using eval_test::read_file;
using eval_test::run_cli;
using eval_test::TempDir;
using eval_test::write_file;

double max_rel(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(1e-12, b.abs().max().item<double>());
}

// A stage context that trains: add_loss() is kept.
class TrainingContext : public MapStageContext {
 public:
  using MapStageContext::MapStageContext;
  bool training() const override { return true; }
  void add_loss(const std::string& name, const at::Tensor& value) override { losses[name] = value; }
  std::map<std::string, at::Tensor> losses;
};

// A small random upsampler on disk (dim 8: attention width 28, 4 heads).
struct SmallCheckpoint {
  TempDir dir;
  std::string path = dir.file("small_loftup.pth");
  SmallCheckpoint() {
    models::LoftUpGeometry g;
    g.dim = 8;
    g.n_freqs = 3;
    g.layers = 1;
    models::save_state_dict_zip(path, models::make_loftup_state_dict(g, 11, true));
  }
};
const SmallCheckpoint& small_checkpoint() {
  static SmallCheckpoint c;
  return c;
}

// Stage 1's target, restated: channel-normalised features upsampled
// bicubically; a pixel inside masks takes (blend of) the mean feature of the
// smallest mask holding it.
at::Tensor restated_target(const models::LoftUp& m, const at::Tensor& lr, const at::Tensor& masks, int64_t H, int64_t W,
                           double blend) {
  at::Tensor up = at::upsample_bicubic2d(m.channel_norm(lr), {H, W}, false);
  at::Tensor out = up.clone();
  for (int64_t b = 0; b < up.size(0); ++b)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        int64_t best = -1;
        double best_area = std::numeric_limits<double>::infinity();
        for (int64_t n = 0; n < masks.size(1); ++n) {
          if (masks[b][n][y][x].item<float>() <= 0) continue;
          const double area = (masks[b][n] > 0).sum().item<double>();
          if (area < best_area) best = n, best_area = area;
        }
        if (best < 0) continue;
        const at::Tensor inside = masks[b][best] > 0;
        const at::Tensor mean = up[b].index({at::indexing::Slice(), inside}).mean(1);
        out[b].select(1, y).select(1, x).copy_(up[b].select(1, y).select(1, x) * (1 - blend) + mean * blend);
      }
  return out;
}

// Two images; image 0: a large mask, a smaller one inside it, a disjoint
// one; image 1: one mask and a padding (empty) mask.
at::Tensor test_masks(int64_t H, int64_t W) {
  at::Tensor m = at::zeros({2, 3, H, W});
  m[0][0].narrow(0, 0, 8).narrow(1, 0, 10).fill_(1);
  m[0][1].narrow(0, 2, 3).narrow(1, 3, 4).fill_(1);
  m[0][2].narrow(0, 9, 3).narrow(1, 11, 5).fill_(1);
  m[1][0].narrow(0, 4, 6).narrow(1, 2, 12).fill_(1);
  return m;
}

}  // namespace

TEST_CASE("loftup: described ports, the training-only masks port and its loss") {
  REQUIRE(catalog().plugins().count("loftup"));
  const PluginDescriptor* d = &catalog().plugins().at("loftup").descriptor;
  CHECK(d->kind == StageKind::Refinement);
  REQUIRE(d->find_input("masks") != nullptr);
  CHECK(d->find_input("masks")->optional);
  CHECK(d->find_loss("pseudo_gt") != nullptr);
  const auto r = run_cli("plugins loftup");
  CHECK(r.exit_code == 0);
  CHECK(contains(r.output, "pseudo_gt"));
  CHECK(contains(r.output, "max_tile_mb"));
}

TEST_CASE("loftup stage: the model's output, a chosen size, the features space") {
  const auto& ck = small_checkpoint();
  auto m = models::LoftUp::load(ck.path);
  at::manual_seed(3);
  const at::Tensor lr = at::randn({2, 8, 3, 4}) * 2 + 0.5, img = at::rand({2, 3, 12, 16});
  SUBCASE("normalized: the authors' output") {
    auto stage = create_stage(catalog(), "loftup", {{"model", ck.path}, {"output", std::string("normalized")}});
    MapStageContext ctx;
    ctx.inputs["features"] = FeatureMap{lr};
    ctx.inputs["image"] = Image{img};
    at::NoGradGuard no_grad;
    stage->run(ctx);
    CHECK(max_rel(std::get<FeatureMap>(ctx.outputs.at("features")).features, m->forward(lr, img)) < 1e-6);
  }
  SUBCASE("features: the channel norm undone with the low-res mean and spread") {
    auto stage = create_stage(catalog(), "loftup", {{"model", ck.path}, {"size", std::vector<int64_t>{6, 8}}});
    MapStageContext ctx;
    ctx.inputs["features"] = FeatureMap{lr};
    ctx.inputs["image"] = Image{img};
    at::NoGradGuard no_grad;
    stage->run(ctx);
    const at::Tensor got = std::get<FeatureMap>(ctx.outputs.at("features")).features;
    CHECK(got.sizes() == at::IntArrayRef({2, 8, 6, 8}));
    models::LoftUp::Options o;
    o.out_h = 6;
    o.out_w = 8;
    const at::Tensor y = m->forward(lr, img, o);
    const models::StateDict sd = m->state_dict();
    const at::Tensor w = sd.at("channelnorm.norm.weight").view({1, 8, 1, 1}),
                     b = sd.at("channelnorm.norm.bias").view({1, 8, 1, 1});
    const at::Tensor mu = at::upsample_bilinear2d(lr.mean(1, true), {6, 8}, false);
    const at::Tensor sigma = at::upsample_bilinear2d(at::sqrt(lr.var(1, false, true) + 1e-5), {6, 8}, false);
    CHECK(max_rel(got, (y - b) / w * sigma + mu) < 1e-5);
  }
  SUBCASE("errors name the node and the port") {
    auto stage = create_stage(catalog(), "loftup", {{"model", ck.path}});
    MapStageContext ctx("up");
    ctx.inputs["features"] = FeatureMap{at::randn({2, 7, 3, 4})};
    ctx.inputs["image"] = Image{img};
    CHECK_THROWS_WITH(stage->run(ctx), doctest::Contains("node 'up' input 'features'"));
  }
  SUBCASE("a fresh upsampler needs its dim") {
    CHECK_THROWS_WITH(create_stage(catalog(), "loftup", {}), doctest::Contains("needs dim"));
  }
}

TEST_CASE("stage 1: the pseudo ground truth from masks and its loss (smallest mask wins; blend)") {
  const auto& ck = small_checkpoint();
  at::manual_seed(5);
  const at::Tensor lr = at::randn({2, 8, 3, 4}), img = at::rand({2, 3, 12, 16});
  const at::Tensor masks = test_masks(12, 16);
  for (double blend : {1.0, 0.5}) {
    INFO("mask_blend " << blend);
    auto stage = create_stage(catalog(), "loftup",
                              {{"model", ck.path}, {"mask_blend", blend}, {"output", std::string("normalized")}});
    stage->set_training(true);
    TrainingContext ctx;
    ctx.inputs["features"] = FeatureMap{lr};
    ctx.inputs["image"] = Image{img};
    Masks mk;
    mk.logits = masks;
    ctx.inputs["masks"] = mk;
    stage->run(ctx);
    REQUIRE(ctx.losses.count("pseudo_gt"));
    // The same upsampler in train mode (BatchNorm on batch statistics).
    auto m = models::LoftUp::load(ck.path);
    models::LoftUp::Options o;
    o.training = true;
    at::NoGradGuard no_grad;
    const at::Tensor y = m->forward(lr, img, o);
    CHECK(max_rel(std::get<FeatureMap>(ctx.outputs.at("features")).features, y) < 1e-6);
    const at::Tensor target = restated_target(*m, lr, masks, 12, 16, blend);
    CHECK(std::abs(ctx.losses.at("pseudo_gt").item<double>() - (y - target).pow(2).mean().item<double>()) <
          1e-6 * (y - target).pow(2).mean().item<double>() + 1e-9);
  }
  SUBCASE("without masks, or not training, no loss") {
    auto stage = create_stage(catalog(), "loftup", {{"model", ck.path}});
    TrainingContext ctx;
    ctx.inputs["features"] = FeatureMap{lr};
    ctx.inputs["image"] = Image{img};
    stage->set_training(true);
    stage->run(ctx);
    CHECK(ctx.losses.empty());
  }
}

// ---- `ovseg train` and `ovseg eval` on a small world ----

namespace {

// 24 training and 6 validation scenes of 64 px. with_instances: the
// instance maps beside the labels (the world writes them from world v2 on;
// for a world that does not, the connected components of each thing class).
std::string small_world(bool with_instances) {
  static TempDir dir;
  const std::string root = dir.file(with_instances ? "with" : "without");
  if (fs::exists(root)) return root;
  world::SceneOptions o;
  o.width = o.height = 64;
  for (const char* split : {"train", "val"}) {
    world::write_world_split(root, split, std::string(split) == "train" ? 24 : 6, 7, o);
    const fs::path inst = fs::path(root) / split / "instances";
    if (!with_instances) {
      fs::remove_all(inst);
      continue;
    }
    if (fs::exists(inst)) continue;
    fs::create_directories(inst);
    for (const auto& e : fs::directory_iterator(fs::path(root) / split / "labels")) {
      const cv::Mat label = cv::imread(e.path().string(), cv::IMREAD_UNCHANGED);
      cv::Mat ids = cv::Mat::zeros(label.size(), CV_16U);
      int next = 1;
      for (int c = 0; c < world::world_class_count(); ++c) {
        if (!world::world_classes()[static_cast<size_t>(c)].thing) continue;
        cv::Mat comps;
        const int n = cv::connectedComponents(label == c, comps, 4, CV_32S);
        for (int k = 1; k < n; ++k) ids.setTo(next++, comps == k);
      }
      cv::imwrite((inst / e.path().filename()).string(), ids);
    }
  }
  return root;
}

const std::string kClip = std::string(OVSEG_SOURCE_DIR) + "/host/models/embedded/world-clip.safetensors";

std::string loftup_pipeline(const std::string& extra = "") {
  return R"([pipeline]
name = "loftup-test"
[protocol]
short_side = 64
window = 32
stride = 32
[nodes.clip]
plugin = "clip_image"
inputs = { image = "input.image" }
model = ")" +
         kClip + R"("
[nodes.text]
plugin = "clip_text"
model = ")" +
         kClip + R"("
templates = "single"
cache = false
[nodes.refine]
plugin = "maskclip"
inputs = { tokens = "clip.tokens", model = "clip.model" }
[nodes.up]
plugin = "loftup"
inputs = { features = "refine.features", image = "input.image", masks = "input.instances" }
dim = 64
n_freqs = 4
layers = 1
[nodes.logits]
plugin = "cosine_logits"
inputs = { features = "up.features", text = "text.embeddings" }
[nodes.upsample]
plugin = "resize_logits"
inputs = { logits = "logits.logits", image = "input.image" }
[train]
steps = 16
batch = 2
lr = 5e-3
val_images = 2
eval_every = 16
checkpoint_every = 8
unseen_classes = []
[train.losses]
"up.pseudo_gt" = 1.0
[train.augment]
crop = 32
)" + extra;
}

}  // namespace

TEST_CASE("ovseg train: stage 1 on the world's instance masks; ovseg eval --weights reads no truth") {
  TempDir dir;
  const std::string pipeline = dir.file("loftup.toml");
  write_file(pipeline, loftup_pipeline());
  const std::string world = small_world(true);
  const auto r = run_cli("train '" + pipeline + "' --dataset world --data-root '" + world + "' --out '" +
                         dir.file("run") + "' --quiet");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto run = nlohmann::json::parse(read_file(dir.file("run/run.json")));
  CHECK(run["frozen_parameters_unchanged"].get<bool>());
  // Only the upsampler trains: its parameters are all the run changed.
  for (const auto& t : run["trainable"]) CHECK(t["key"].get<std::string>().rfind("up.", 0) == 0);
  // Every parameter of the upsampler (its layout less the BatchNorm buffers).
  models::LoftUpGeometry g;
  g.dim = 64;
  g.n_freqs = 4;
  g.layers = 1;
  size_t params = 0;
  for (const auto& [name, shape] : models::loftup_layout(g))
    params += name.find("running_") == std::string::npos && name.find("num_batches") == std::string::npos;
  CHECK(run["trainable"].size() == params);
  CHECK(run["first_loss"].get<double>() > run["final_loss"].get<double>());
  const auto curves = read_file(dir.file("run/curves.csv"));
  CHECK(contains(curves.substr(0, curves.find('\n')), "up.pseudo_gt"));
  const auto weights = models::load_safetensors(dir.file("run/weights.safetensors"));
  CHECK(weights.count("up.upsampler.first_conv.1.weight"));
  CHECK(weights.count("up.upsampler.first_conv.2.running_mean"));  // BatchNorm statistics are buffers
  CHECK(weights.count("up.channelnorm.norm.weight"));
  for (const auto& [k, v] : weights) CHECK(k.rfind("up.", 0) == 0);
  // BatchNorm's running statistics moved away from their initial 0 / 1.
  CHECK(weights.at("up.upsampler.first_conv.2.running_mean").abs().sum().item<double>() > 0);

  // Evaluation needs no instances: the masks port is a training signal.
  const std::string no_truth = small_world(false);
  const auto e = run_cli("eval '" + pipeline + "' --weights '" + dir.file("run/weights.safetensors") +
                         "' --dataset world --data-root '" + no_truth + "' --results '" + dir.file("res") + "'");
  INFO(e.output);
  REQUIRE(e.exit_code == 0);
  CHECK(contains(e.output, "boundary (trimap) mIoU"));
  nlohmann::json record;
  for (const auto& f : fs::directory_iterator(dir.file("res")))
    if (f.path().extension() == ".json") record = nlohmann::json::parse(read_file(f.path().string()));
  REQUIRE(record.contains("boundary"));
  CHECK(record["boundary"]["mIoU"].is_number());
  CHECK(record["boundary"]["dilation_ratio"].get<double>() == doctest::Approx(0.02));
}

TEST_CASE("ovseg train: a data set without instance masks is one clear error") {
  TempDir dir;
  const std::string pipeline = dir.file("loftup.toml");
  write_file(pipeline, loftup_pipeline());
  const auto r = run_cli("train '" + pipeline + "' --dataset world --data-root '" + small_world(false) + "' --out '" +
                         dir.file("run") + "' --quiet");
  CHECK(r.exit_code == 1);
  CHECK(contains(r.output, "reads input.instances, but data set 'folder' has no instance masks"));
}
