// `ovseg train` and `ovseg eval` of a small Chimera-Seg pipeline (the shipped
// world CLIP) on a generated world with a declared zero-shot split: what
// trains (body, adapter, CLS token), what stays frozen (the CSH's CLIP
// blocks), the loss terms in the curves, the schedule's counter in the
// weights, and an evaluation with seen / unseen / hIoU.
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
  return world_pipeline_header("chimera-test") + R"([nodes.body]
plugin = "chimera_body"
inputs = { image = "input.image" }
widths = [8, 16, 32]
)" + world_text_node() +
         R"([nodes.csh]
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
  const SplitWorldTraining t("chimera", pipeline(), 12);
  const auto r = t.train();
  INFO(r.output);
  REQUIRE(r.exit_code == 0);

  const json run = t.run();
  CHECK(run["frozen_parameters_unchanged"] == true);
  const std::set<std::string> trained = t.trained();
  for (const char* key : {"body.stages.0.down.weight", "body.stages.2.blocks.0.conv2.norm.bias", "csh.adapter.0.weight",
                          "csh.adapter.0.bias", "csh.cls_token"})
    CHECK_MESSAGE(trained.count(key) == 1, key);
  for (const auto& k : trained) CHECK_MESSAGE(k.find("visual.") == std::string::npos, k);
  const std::string curves = t.curves();
  for (const char* term : {"loss.ce", "loss.csh.sgd", "loss.csh.sam"}) CHECK_MESSAGE(contains(curves, term), term);
  REQUIRE(run["val"].size() == 1);
  CHECK(run["val"][0]["mIoU"].is_number());  // unseen (and so hIoU) may be absent from 2 tiny scenes
  // The weights: what trained plus the schedule's counter (4 forwards), no CLIP tensor.
  const auto weights = ovseg::models::load_safetensors(t.weights());
  REQUIRE(weights.count("csh.sgd_step") == 1);
  CHECK(weights.at("csh.sgd_step").item<int64_t>() == 4);
  for (const auto& [k, tensor] : weights) CHECK_MESSAGE((trained.count(k) == 1 || k == "csh.sgd_step"), k);

  const auto eval = t.eval();
  INFO(eval.output);
  REQUIRE(eval.exit_code == 0);
  CHECK(contains(eval.output, "mIoU"));
}
