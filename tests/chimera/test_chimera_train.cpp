// `ovseg train` and `ovseg eval` of a small Chimera-Seg pipeline (the shipped
// world CLIP) on a generated world with a declared zero-shot split: what
// trains (body, adapter, CLS token), what stays frozen (the CSH's CLIP
// blocks), the loss terms in the curves, the schedule's counter in the
// weights, and an evaluation with seen / unseen / hIoU.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <set>

#include "eval/eval_test_util.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/world/world.hpp"

using eval_test::contains;
using eval_test::kEmbeddedClip;
using eval_test::read_file;
using eval_test::run_cli;
using eval_test::TempDir;
using eval_test::write_file;
using nlohmann::json;

namespace {

std::string pipeline() {
  return R"([pipeline]
name = "chimera-test"
[protocol]
short_side = 64
window = 32
stride = 32
[nodes.body]
plugin = "chimera_body"
inputs = { image = "input.image" }
widths = [8, 16, 32]
[nodes.text]
plugin = "clip_text"
model = ")" +
         kEmbeddedClip + R"("
templates = "single"
cache = false
[nodes.csh]
plugin = "chimera_head"
inputs = { features = "body.features", image = "input.image", text = "text.embeddings", labels = "input.labels" }
model = ")" +
         kEmbeddedClip + R"("
body_channels = 32
partial_blocks = 1
sgd_steps = 4
[nodes.logits]
plugin = "cosine_logits"
inputs = { features = "csh.features", text = "text.embeddings" }
[nodes.up]
plugin = "resize_logits"
inputs = { logits = "logits.logits", image = "input.image" }
[train]
steps = 4
batch = 2
lr = 1e-3
val_images = 2
[train.losses]
ce = 1.0
"csh.sgd" = 1.0
"csh.sam" = 1.0
[train.augment]
crop = 32
)";
}

}  // namespace

TEST_CASE("ovseg train + eval: Chimera-Seg trains body, adapter and CLS token; the CSH's CLIP blocks stay frozen") {
  TempDir dir;
  ovseg::world::SceneOptions o;
  o.width = o.height = 64;
  ovseg::world::write_world_split(dir.file("world"), "train", 12, 5, o);
  ovseg::world::write_world_split(dir.file("world"), "val", 2, 5, o);
  write_file(dir.file("world/unseen_classes.txt"), "star\nwater\n");
  write_file(dir.file("chimera.toml"), pipeline());
  const std::string data = " --dataset world --data-root '" + dir.file("world") + "' --quiet";
  const auto r = run_cli("train '" + dir.file("chimera.toml") + "' --out '" + dir.file("run") + "'" + data);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);

  const json run = json::parse(read_file(dir.file("run/run.json")));
  CHECK(run["frozen_parameters_unchanged"] == true);
  std::set<std::string> trained;
  for (const auto& t : run["trainable"]) trained.insert(t["key"].get<std::string>());
  for (const char* key : {"body.stages.0.down.weight", "body.stages.2.blocks.0.conv2.norm.bias", "csh.adapter.0.weight",
                          "csh.adapter.0.bias", "csh.cls_token"})
    CHECK_MESSAGE(trained.count(key) == 1, key);
  for (const auto& k : trained) CHECK_MESSAGE(k.find("visual.") == std::string::npos, k);
  const std::string curves = read_file(dir.file("run/curves.csv"));
  for (const char* term : {"loss.ce", "loss.csh.sgd", "loss.csh.sam"}) CHECK_MESSAGE(contains(curves, term), term);
  REQUIRE(run["val"].size() == 1);
  CHECK(run["val"][0]["mIoU"].is_number());  // unseen (and so hIoU) may be absent from 2 tiny scenes
  // The weights: what trained plus the schedule's counter (4 forwards), no CLIP tensor.
  const auto weights = ovseg::models::load_safetensors(dir.file("run/weights.safetensors"));
  REQUIRE(weights.count("csh.sgd_step") == 1);
  CHECK(weights.at("csh.sgd_step").item<int64_t>() == 4);
  for (const auto& [k, t] : weights) CHECK_MESSAGE((trained.count(k) == 1 || k == "csh.sgd_step"), k);

  const auto eval = run_cli("eval '" + dir.file("chimera.toml") + "' --weights '" +
                            dir.file("run/weights.safetensors") + "' --results '" + dir.file("res") + "'" + data);
  INFO(eval.output);
  REQUIRE(eval.exit_code == 0);
  CHECK(contains(eval.output, "mIoU"));
}
