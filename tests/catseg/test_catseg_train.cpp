// `ovseg train` and `ovseg eval` of a small CAT-Seg pipeline (the shipped
// world CLIP) on a generated world with a declared zero-shot split: the BCE
// loss, what trains (CLIP q / v at lr x 0.01, aggregator, upsamplers), frozen
// tensors unchanged, and a zero-shot record.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <set>

#include "eval/split_world_training.hpp"
#include "ovseg/models/checkpoint_io.hpp"

using eval_test::contains;
using eval_test::kEmbeddedClip;
using eval_test::SplitWorldTraining;
using eval_test::world_pipeline_header;
using nlohmann::json;

namespace {

std::string pipeline() {
  return world_pipeline_header("catseg-test") + R"([nodes.catseg]
plugin = "catseg"
inputs = { image = "input.image" }
model = ")" +
         kEmbeddedClip + R"("
clip_resolution = 32
guidance_layers = [0, 1]
hidden_dim = 16
num_heads = 2
text_guidance_proj_dim = 8
appearance_guidance_proj_dim = 8
decoder_dims = [16, 16]
decoder_guidance_dims = [16, 16]
decoder_guidance_proj_dims = [8, 8]
window_size = 2
pad_len = 16
[nodes.up]
plugin = "resize_logits"
inputs = { logits = "catseg.logits", image = "input.image" }
[train]
steps = 3
batch = 2
lr = 2e-4
grad_clip = 0.01
val_images = 2
[[train.param_groups]]
match = "catseg.clip_model.*"
lr_mult = 0.01
[train.losses]
bce = 1.0
[train.augment]
crop = 32
)";
}

}  // namespace

TEST_CASE("ovseg train + eval: CAT-Seg on a world with a declared split") {
  const SplitWorldTraining t("catseg", pipeline(), 8);
  const auto r = t.train();
  INFO(r.output);
  REQUIRE(r.exit_code == 0);

  const json run = t.run();
  CHECK(run["frozen_parameters_unchanged"] == true);
  CHECK(run["dataset"]["unseen_classes"] == json({"star", "water"}));
  const std::set<std::string> trained = t.trained();
  for (const char* key : {"catseg.clip_model.visual.transformer.resblocks.1.attn.v_proj_weight",
                          "catseg.clip_model.transformer.resblocks.3.attn.q_proj_weight",
                          "catseg.transformer.layers.1.swin_block.block_2.attn.q.weight",
                          "catseg.transformer.decoder2.up.weight", "catseg.upsample1.weight"})
    CHECK_MESSAGE(trained.count(key) == 1, key);
  CHECK(trained.count("catseg.clip_model.visual.transformer.resblocks.1.attn.k_proj_weight") == 0);
  CHECK(contains(t.curves(), "loss.bce"));
  REQUIRE(run["val"].size() == 1);
  CHECK(run["val"][0]["mIoU_seen"].is_number());
  for (const auto& [k, tensor] : ovseg::models::load_safetensors(t.weights())) CHECK_MESSAGE(trained.count(k) == 1, k);

  const auto ev = t.eval();
  INFO(ev.output);
  REQUIRE(ev.exit_code == 0);
  CHECK(contains(ev.output, "hIoU"));
}
