// `ovseg train` and `ovseg eval` of a small CLIP-RC pipeline (the shipped
// world CLIP) on a generated world with a declared zero-shot split: what
// trains, what stays frozen, the loss terms, and records keyed by the split
// (seen-class calibration reads it).
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
name = "cliprc-test"
[protocol]
short_side = 64
window = 32
stride = 32
[nodes.encoder]
plugin = "cliprc_encoder"
inputs = { image = "input.image" }
model = ")" +
         kEmbeddedClip + R"("
prompt_tokens = 2
region_tokens = 4
[nodes.text]
plugin = "clip_text"
model = ")" +
         kEmbeddedClip + R"("
templates = "single"
cache = false
[nodes.head]
plugin = "cliprc_head"
inputs = { features = "encoder.features", global = "encoder.global", regions = "encoder.regions", text = "text.embeddings" }
channels = 64
num_layers = 2
[nodes.up]
plugin = "resize_logits"
inputs = { logits = "head.logits", image = "input.image" }
[nodes.calib]
plugin = "seen_calibration"
inputs = { logits = "up.logits" }
[train]
steps = 4
batch = 2
lr = 2e-4
val_images = 2
[train.losses]
mask_focal = 200.0
mask_dice = 3.0
"head.recovery_q" = 50.0
"head.recovery_k" = 50.0
[train.augment]
crop = 32
)";
}

}  // namespace

TEST_CASE("ovseg train + eval: CLIP-RC on a world with a declared split trains prompts and head only") {
  TempDir dir;
  ovseg::world::SceneOptions o;
  o.width = o.height = 64;
  ovseg::world::write_world_split(dir.file("world"), "train", 16, 5, o);
  ovseg::world::write_world_split(dir.file("world"), "val", 2, 5, o);
  write_file(dir.file("world/unseen_classes.txt"), "star\nwater\n");
  write_file(dir.file("cliprc.toml"), pipeline());
  const std::string data = " --dataset world --data-root '" + dir.file("world") + "' --quiet";
  const auto r = run_cli("train '" + dir.file("cliprc.toml") + "' --out '" + dir.file("run") + "'" + data);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);

  const json run = json::parse(read_file(dir.file("run/run.json")));
  CHECK(run["frozen_parameters_unchanged"] == true);
  CHECK(run["dataset"]["unseen_classes"] == json({"star", "water"}));
  std::set<std::string> trained;
  for (const auto& t : run["trainable"]) trained.insert(t["key"].get<std::string>());
  for (const char* key : {"encoder.prompt_embeddings", "encoder.deep_prompt_embeddings", "encoder.prompt_proj.weight",
                          "encoder.prompt_norm.weight", "head.q_proj.weight", "head.lateral_proj.weight",
                          "head.recovery_decoder.linear_q_out.weight"})
    CHECK_MESSAGE(trained.count(key) == 1, key);
  CHECK(trained.count("encoder.region_level_bridge") == 0);
  for (const auto& k : trained) CHECK_MESSAGE((k.rfind("encoder.", 0) == 0 || k.rfind("head.", 0) == 0), k);
  const std::string curves = read_file(dir.file("run/curves.csv"));
  for (const char* term : {"loss.mask_focal", "loss.mask_dice", "loss.head.recovery_q", "loss.head.recovery_k"})
    CHECK_MESSAGE(contains(curves, term), term);
  REQUIRE(run["val"].size() == 1);
  CHECK(run["val"][0]["hIoU"].is_number());
  // The weights file: what trained, no CLIP tensor.
  for (const auto& [k, t] : ovseg::models::load_safetensors(dir.file("run/weights.safetensors")))
    CHECK_MESSAGE(trained.count(k) == 1, k);

  // Evaluated under the declared split, then another: calibration reads the
  // split, so each is a run of its own (a graph without it would reuse one).
  const std::string eval = "eval '" + dir.file("cliprc.toml") + "' --weights '" + dir.file("run/weights.safetensors") +
                           "' --results '" + dir.file("res") + "'" + data;
  const auto declared = run_cli(eval);
  INFO(declared.output);
  REQUIRE(declared.exit_code == 0);
  CHECK(contains(declared.output, "hIoU"));
  const auto other = run_cli(eval + " --unseen star");
  INFO(other.output);
  REQUIRE(other.exit_code == 0);
  CHECK_FALSE(contains(other.output, "already stored"));
  const auto again = run_cli(eval + " --unseen star");
  CHECK(contains(again.output, "already stored"));
}
