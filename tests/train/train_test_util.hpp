// Shared by the training tests: a small generated world (written once per
// test process), pipelines over it, the CLI with the suite's test plugin.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "eval/eval_test_util.hpp"
#include "ovseg/world/world.hpp"

namespace train_test {

namespace fs = std::filesystem;
using eval_test::read_file;
using eval_test::run_cli;
using eval_test::TempDir;
using eval_test::write_file;

using eval_test::contains;
using eval_test::kEmbeddedClip;
inline const std::string kToyPlugins = OVSEG_TRAIN_TEST_PLUGIN_DIR;

// 48 training and 8 validation scenes of 64 px, world seed 5.
inline const std::string& small_world() {
  static TempDir dir;
  static const std::string root = [] {
    ovseg::world::SceneOptions o;
    o.width = o.height = 64;
    ovseg::world::write_world_split(dir.path().string(), "train", 48, 5, o);
    ovseg::world::write_world_split(dir.path().string(), "val", 8, 5, o);
    return dir.path().string();
  }();
  return root;
}

// The small world's class names (first synonym of each line), label order.
inline std::vector<std::string> world_classes() {
  std::vector<std::string> out;
  std::istringstream in(read_file(small_world() + "/class_names.txt"));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(line.substr(0, line.find(',')));
  return out;
}

// The world CLIP with q/v trainable, at the world's 64 px scale: 32 px crops.
inline std::string qv_pipeline(const std::string& extra = "") {
  return R"([pipeline]
name = "qv-test"
[protocol]
short_side = 64
window = 32
stride = 32
[nodes.clip]
plugin = "clip_image"
inputs = { image = "input.image" }
model = ")" +
         kEmbeddedClip + R"("
trainable = ["visual.transformer.resblocks.*.attn.q_proj_weight", "visual.transformer.resblocks.*.attn.v_proj_weight"]
[nodes.text]
plugin = "clip_text"
model = ")" +
         kEmbeddedClip + R"("
templates = "single"
cache = false
[nodes.logits]
plugin = "cosine_logits"
inputs = { features = "clip.features", text = "text.embeddings" }
[nodes.upsample]
plugin = "resize_logits"
inputs = { logits = "logits.logits", image = "input.image" }
[train]
steps = 12
batch = 4
lr = 1e-3
warmup_steps = 2
val_images = 4
eval_every = 6
checkpoint_every = 4
[train.augment]
crop = 32
)" + extra;
}

// The suite's toy_head on the image: a per-pixel linear classifier.
inline std::string toy_pipeline(const std::string& extra = "") {
  return R"([pipeline]
name = "toy-test"
[protocol]
short_side = 64
window = 32
stride = 32
[nodes.head]
plugin = "toy_head"
inputs = { image = "input.image" }
[train]
steps = 12
batch = 4
lr = 0.05
val_images = 4
eval_every = 6
checkpoint_every = 4
[train.losses]
ce = 1.0
"head.l2" = 0.5
[train.augment]
crop = 32
)" + extra;
}

inline std::string train_args(const std::string& pipeline, const std::string& out, const std::string& more = "") {
  return "train '" + pipeline + "' --dataset world --data-root '" + small_world() + "' --out '" + out +
         "' --plugin-dir '" + kToyPlugins + "' --quiet " + more;
}

}  // namespace train_test
