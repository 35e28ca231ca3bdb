// MaskCLIP++ stages on their own and through `ovseg train` / `ovseg eval`:
// ground-truth segments, the classifier's merge (every covered pixel's class
// scores sum to one), padding to whole patches, the uncovered-pixel option,
// what trains by default, the training loss and its gradients, clear errors,
// and a short training run of an oracle pipeline on a generated world.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <set>

#include "built_plugins.hpp"
#include "eval/eval_test_util.hpp"
#include "ovseg/host/map_stage_context.hpp"
#include "ovseg/host/plugin_loader.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/world/world.hpp"

using eval_test::contains;
using eval_test::kEmbeddedClip;
using eval_test::read_file;
using eval_test::run_cli;
using eval_test::TempDir;
using eval_test::write_file;
using nlohmann::json;
using ovseg::Image;
using ovseg::LabelMap;
using ovseg::Logits;
using ovseg::MapStageContext;
using ovseg::Masks;

namespace {

using ovseg_test::catalog;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// A context that trains: collects the losses a stage adds.
struct TrainingContext : MapStageContext {
  std::map<std::string, at::Tensor> losses;
  bool training() const override { return true; }
  void add_loss(const std::string& name, const at::Tensor& v) override { losses[name] = v; }
};

Masks binary_masks(const std::vector<at::Tensor>& ms, std::vector<int64_t> classes = {}) {
  Masks m;
  m.logits = at::stack(ms).to(at::kFloat).unsqueeze(0);
  if (!classes.empty()) m.classes = at::tensor(classes, at::kLong).unsqueeze(0);
  return m;
}

std::unique_ptr<ovseg::Stage> classifier(std::map<std::string, ovseg::ParamValue> extra = {}) {
  std::map<std::string, ovseg::ParamValue> p = {{"model", kEmbeddedClip},
                                                {"class_names",
                                                 std::vector<std::string>{"grass", "water", "house, home, cottage"}},
                                                {"templates", std::string("t14")},
                                                {"corr_width", int64_t{8}}};
  for (auto& [k, v] : extra) p[k] = v;
  return ovseg::create_stage(catalog(), "maskclippp", p, "cls");
}

}  // namespace

TEST_CASE(
    "gt_segments: panoptic segments per (instance, class) and stuff class; semantic per class; ignored pixels in "
    "none") {
  // 1 x 4 x 6: stuff 0 | object 1 (class 2 with a class-3 part) | object 2 (class 2) | ignored corner.
  at::Tensor labels = at::tensor({0, 0, 2,   2,   2, 2,  //
                                  0, 0, 3,   2,   2, 2,  //
                                  1, 1, 2,   2,   2, 2,  //
                                  1, 1, 255, 255, 2, 2},
                                 at::kLong)
                          .view({1, 4, 6});
  at::Tensor inst = at::zeros({1, 2, 4, 6});
  inst[0][0].narrow(0, 0, 3).narrow(1, 2, 2).fill_(1);  // object 1: columns 2-3 of rows 0-2
  inst[0][1].narrow(1, 4, 2).fill_(1);                  // object 2: columns 4-5
  Masks instances;
  instances.logits = inst;
  auto run = [&](const std::string& mode) {
    auto stage = ovseg::create_stage(catalog(), "gt_segments", {{"mode", mode}});
    MapStageContext ctx;
    ctx.inputs["instances"] = instances;
    ctx.inputs["labels"] = LabelMap{labels, {}};
    stage->run(ctx);
    return std::get<Masks>(ctx.outputs.at("masks"));
  };
  const Masks pan = run("panoptic");
  // stuff 0, stuff 1, object 1 as class 2, object 1's part (class 3), object 2 as class 2.
  REQUIRE(pan.classes.size(1) == 5);
  std::multiset<int64_t> classes;
  for (int64_t s = 0; s < 5; ++s) classes.insert(pan.classes[0][s].item<int64_t>());
  CHECK(classes == std::multiset<int64_t>{0, 1, 2, 2, 3});
  CHECK(pan.logits.sum().item<double>() == 22.0);  // every pixel but the 2 ignored ones, once
  const Masks sem = run("semantic");
  REQUIRE(sem.classes.size(1) == 4);
  CHECK(at::equal(sem.classes[0], at::tensor({0, 1, 2, 3}, at::kLong)));
  CHECK(sem.logits[0][2].sum().item<double>() == 13.0);
}

TEST_CASE(
    "maskclippp: each covered pixel's class scores sum to one, constant within a mask; padding; uncovered pixels") {
  auto stage = classifier({{"psm", std::string("mean")}});
  const at::Tensor image = at::rand({1, 3, 30, 37});  // not whole 8 px patches: padded inside
  at::Tensor left = at::zeros({30, 37}), right = at::zeros({30, 37});
  left.narrow(1, 0, 18).fill_(1);
  right.narrow(1, 18, 19).fill_(1);
  MapStageContext ctx;
  ctx.inputs["image"] = Image{image};
  ctx.inputs["masks"] = binary_masks({left, right});
  stage->run(ctx);
  const Logits& out = std::get<Logits>(ctx.outputs.at("logits"));
  REQUIRE(out.logits.sizes() == at::IntArrayRef{1, 3, 30, 37});
  CHECK(out.class_names == std::vector<std::string>{"grass", "water", "house"});
  CHECK(out.logits.sum(1).allclose(at::ones({1, 30, 37}), 1e-5, 1e-5));
  const at::Tensor a = out.logits[0].select(2, 0).select(1, 0), b = out.logits[0].select(2, 17).select(1, 29);
  CHECK(a.allclose(b, 1e-6, 1e-6));

  // Only the left mask: the right half scores nothing, unless the complement is a mask of its own.
  MapStageContext half;
  half.inputs["image"] = Image{image};
  half.inputs["masks"] = binary_masks({left});
  stage->run(half);
  CHECK(std::get<Logits>(half.outputs.at("logits")).logits[0].narrow(2, 18, 19).abs().max().item<double>() == 0.0);
  auto filled = classifier({{"psm", std::string("mean")}, {"uncovered", std::string("complement")}});
  filled->run(half);
  CHECK(std::get<Logits>(half.outputs.at("logits")).logits.sum(1).allclose(at::ones({1, 30, 37}), 1e-5, 1e-5));

  // Or the uncovered part of each cell of a 2x2 grid: still covered once, and
  // the two right cells (different content) may differ.
  auto grid = classifier(
      {{"psm", std::string("mean")}, {"uncovered", std::string("grid")}, {"uncovered_cells", int64_t{2}}});
  grid->run(half);
  CHECK(std::get<Logits>(half.outputs.at("logits")).logits.sum(1).allclose(at::ones({1, 30, 37}), 1e-5, 1e-5));

  // No masks at all (a crop of ignored pixels): every score is zero.
  MapStageContext none;
  none.inputs["image"] = Image{image};
  Masks empty;
  empty.logits = at::zeros({1, 0, 30, 37});
  none.inputs["masks"] = empty;
  stage->run(none);
  CHECK(std::get<Logits>(none.outputs.at("logits")).logits.abs().max().item<double>() == 0.0);

  // A mask the size of another image is refused, naming the node and port.
  MapStageContext bad;
  bad.inputs["image"] = Image{image};
  bad.inputs["masks"] = binary_masks({at::ones({16, 16})});
  const std::string e = error_of([&] { stage->run(bad); });
  CHECK(contains(e, "node 'under_test' input 'masks'"));
  CHECK(contains(e, "(1, 1, 16, 16)"));
}

TEST_CASE("maskclippp: attention in-projections, positions, mask bias scale and PSM train; the loss reaches them") {
  auto stage = classifier();
  std::set<std::string> trainable;
  std::map<std::string, at::Tensor> tensors;
  for (auto& t : stage->parameters()) {
    tensors[t.name] = t.tensor;
    if (t.trainable) {
      trainable.insert(t.name);
      t.tensor.requires_grad_(true);
    }
  }
  CHECK(trainable == std::set<std::string>{"visual.positional_embedding",
                                           "visual.transformer.resblocks.0.attn.in_proj_weight",
                                           "visual.transformer.resblocks.0.attn.in_proj_bias",
                                           "visual.transformer.resblocks.1.attn.in_proj_weight",
                                           "visual.transformer.resblocks.1.attn.in_proj_bias", "mask_logit_scale",
                                           "psm.corr_proj_in.0.weight", "psm.corr_proj_in.0.bias",
                                           "psm.corr_proj_out.0.weight", "psm.corr_proj_out.0.bias"});
  CHECK(tensors.at("mask_logit_scale").sizes() == at::IntArrayRef{1, 2});  // the last of 2 blocks, 2 heads

  at::Tensor top = at::zeros({32, 32}), bottom = at::zeros({32, 32});
  top.narrow(0, 0, 16).fill_(1);
  bottom.narrow(0, 16, 16).fill_(1);
  TrainingContext ctx;
  ctx.inputs["image"] = Image{at::rand({1, 3, 32, 32})};
  // An ignored segment (class -1) and one outside the vocabulary train nothing.
  ctx.inputs["masks"] = binary_masks({top, bottom, top, bottom}, {0, 2, -1, 7});
  stage->run(ctx);
  REQUIRE(ctx.losses.count("mask_ce") == 1);
  const at::Tensor loss = ctx.losses.at("mask_ce");
  CHECK(std::isfinite(loss.item<double>()));
  CHECK(loss.item<double>() > 0);
  loss.backward();
  for (const char* n : {"psm.corr_proj_in.0.weight", "mask_logit_scale", "visual.positional_embedding",
                        "visual.transformer.resblocks.1.attn.in_proj_weight"}) {
    INFO(n);
    REQUIRE(tensors.at(n).grad().defined());
    CHECK(tensors.at(n).grad().abs().sum().item<double>() > 0);
  }

  // Training needs classes on the masks.
  TrainingContext no_classes;
  no_classes.inputs["image"] = ctx.inputs["image"];
  no_classes.inputs["masks"] = binary_masks({top});
  CHECK(contains(error_of([&] { stage->run(no_classes); }), "gt_segments"));
}

TEST_CASE("ovseg train + eval: MaskCLIP++ on ground-truth segments of a world with a declared split") {
  TempDir dir;
  ovseg::world::SceneOptions o;
  o.width = o.height = 64;
  ovseg::world::write_world_split(dir.file("world"), "train", 12, 5, o);
  ovseg::world::write_world_split(dir.file("world"), "val", 2, 5, o);
  write_file(dir.file("world/unseen_classes.txt"), "star\nwater\n");
  write_file(dir.file("p.toml"), R"([pipeline]
name = "maskclippp-test"
[protocol]
mode = "whole"
short_side = 64
[nodes.gt]
plugin = "gt_segments"
inputs = { instances = "input.instances", labels = "input.labels" }
[nodes.cls]
plugin = "maskclippp"
inputs = { image = "input.image", masks = "gt.masks" }
model = ")" + kEmbeddedClip + R"("
templates = "single"
corr_width = 8
[train]
steps = 3
batch = 2
lr = 2e-4
val_images = 2
[train.losses]
"cls.mask_ce" = 1.0
[train.augment]
crop = 64
)");
  const std::string data = " --dataset world --data-root '" + dir.file("world") + "' --quiet";
  const auto r = run_cli("train '" + dir.file("p.toml") + "' --out '" + dir.file("run") + "'" + data);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const json run = json::parse(read_file(dir.file("run/run.json")));
  CHECK(run["frozen_parameters_unchanged"] == true);
  std::set<std::string> trained;
  for (const auto& t : run["trainable"]) trained.insert(t["key"].get<std::string>());
  CHECK(trained.count("cls.psm.corr_proj_in.0.weight") == 1);
  CHECK(trained.count("cls.visual.transformer.resblocks.1.attn.in_proj_weight") == 1);
  CHECK(trained.count("cls.visual.ln_post.weight") == 0);
  CHECK(contains(read_file(dir.file("run/curves.csv")), "loss.cls.mask_ce"));
  REQUIRE(run["val"].size() == 1);
  CHECK(run["val"][0]["mIoU"].is_number());  // validated on ground-truth segments too (oracle input)

  const auto ev = run_cli("eval '" + dir.file("p.toml") + "' --weights '" + dir.file("run/weights.safetensors") +
                          "' --results '" + dir.file("res") + "'" + data);
  INFO(ev.output);
  REQUIRE(ev.exit_code == 0);
  CHECK(contains(ev.output, "hIoU"));
}
