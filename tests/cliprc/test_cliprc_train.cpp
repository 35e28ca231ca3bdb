// `ovseg train` and `ovseg eval` of a small CLIP-RC pipeline (the shipped
// world CLIP) on a generated world with a declared zero-shot split: what
// trains, what stays frozen, the loss terms, and records keyed by the split
// (seen-class calibration reads it).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <set>

#include "eval/split_world_training.hpp"
#include "ovseg/models/checkpoint_io.hpp"

using eval_test::contains;
using eval_test::kEmbeddedClip;
using eval_test::SplitWorldTraining;
using eval_test::world_pipeline_header;
using eval_test::world_text_node;
using nlohmann::json;

namespace {

std::string pipeline() {
  return world_pipeline_header("cliprc-test") + R"([nodes.encoder]
plugin = "cliprc_encoder"
inputs = { image = "input.image" }
model = ")" +
         kEmbeddedClip + R"("
prompt_tokens = 2
region_tokens = 4
)" + world_text_node() +
         R"([nodes.head]
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
  const SplitWorldTraining t("cliprc", pipeline(), 16);
  const auto r = t.train();
  INFO(r.output);
  REQUIRE(r.exit_code == 0);

  const json run = t.run();
  CHECK(run["frozen_parameters_unchanged"] == true);
  CHECK(run["dataset"]["unseen_classes"] == json({"star", "water"}));
  const std::set<std::string> trained = t.trained();
  for (const char* key : {"encoder.prompt_embeddings", "encoder.deep_prompt_embeddings", "encoder.prompt_proj.weight",
                          "encoder.prompt_norm.weight", "head.q_proj.weight", "head.lateral_proj.weight",
                          "head.recovery_decoder.linear_q_out.weight"})
    CHECK_MESSAGE(trained.count(key) == 1, key);
  CHECK(trained.count("encoder.region_level_bridge") == 0);
  for (const auto& k : trained) CHECK_MESSAGE((k.rfind("encoder.", 0) == 0 || k.rfind("head.", 0) == 0), k);
  const std::string curves = t.curves();
  for (const char* term : {"loss.mask_focal", "loss.mask_dice", "loss.head.recovery_q", "loss.head.recovery_k"})
    CHECK_MESSAGE(contains(curves, term), term);
  REQUIRE(run["val"].size() == 1);
  CHECK(run["val"][0]["hIoU"].is_number());
  // The weights file: what trained, no CLIP tensor.
  for (const auto& [k, tensor] : ovseg::models::load_safetensors(t.weights())) CHECK_MESSAGE(trained.count(k) == 1, k);

  // Evaluated under the declared split, then another: calibration reads the
  // split, so each is a run of its own (a graph without it would reuse one).
  const auto declared = t.eval();
  INFO(declared.output);
  REQUIRE(declared.exit_code == 0);
  CHECK(contains(declared.output, "hIoU"));
  const auto other = t.eval(" --unseen star");
  INFO(other.output);
  REQUIRE(other.exit_code == 0);
  CHECK_FALSE(contains(other.output, "already stored"));
  const auto again = t.eval(" --unseen star");
  CHECK(contains(again.output, "already stored"));
}
