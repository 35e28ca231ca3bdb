// Records know exactly what produced them (issue 11's bad-input trials): the
// model bytes are part of a run's key (new bytes at the same path are a new
// run, never the stored one, and resume cannot mix checkpoints), merge
// refuses shards of different models, non-finite logits fail naming the node,
// truncated images fail naming the file, and nonsense selections are refused
// before anything is stored.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "eval_test_util.hpp"
#include "ovseg/host/results_store.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/models/random_clip.hpp"
#include "ovseg/world/world.hpp"

using namespace eval_test;
using nlohmann::json;

namespace {

// A tiny random CLIP at `path` (seed picks the weights), optionally poisoned.
void write_clip(const std::string& path, uint64_t seed, bool nan_projection = false) {
  auto sd = ovseg::models::make_random_clip_state_dict(ovseg::models::clip_geometry_preset("tiny"), seed);
  if (nan_projection) sd.at("visual.proj").fill_(std::nan(""));
  ovseg::models::save_safetensors(path, sd);
}

std::string clip_pipeline(const std::string& model) {
  return "[protocol]\nshort_side = 64\nwindow = 64\nstride = 64\n"
         "[nodes.clip]\nplugin = \"clip_image\"\ninputs = { image = \"input.image\" }\nmodel = \"" +
         model +
         "\"\n"
         "[nodes.text]\nplugin = \"clip_text\"\nmodel = \"" +
         model +
         "\"\ntemplates = \"single\"\ncache = false\n"
         "[nodes.logits]\nplugin = \"cosine_logits\"\ninputs = { features = \"clip.features\", text = "
         "\"text.embeddings\" }\n"
         "[nodes.upsample]\nplugin = \"resize_logits\"\ninputs = { logits = \"logits.logits\", image = \"input.image\" "
         "}\n";
}

const std::string& world_root() {
  static TempDir dir;
  static const std::string root = [] {
    ovseg::world::SceneOptions o;
    o.width = o.height = 64;
    ovseg::world::write_world_split(dir.path().string(), "val", 4, 9, o);
    return dir.path().string();
  }();
  return root;
}

std::string eval_world(const std::string& pipeline, const std::string& results, const std::string& extra = "") {
  return "eval '" + pipeline + "' --dataset world --data-root '" + world_root() + "' --results '" + results +
         "' --quiet " + extra;
}

}  // namespace

TEST_CASE("new model bytes at the same path are a new run; merge refuses shards of different models") {
  TempDir tmp;
  const std::string model = tmp.file("clip.safetensors");
  write_clip(model, 1);
  write_file(tmp.file("p.toml"), clip_pipeline(model));
  REQUIRE(run_cli(eval_world(tmp.file("p.toml"), tmp.file("res"))).exit_code == 0);
  write_clip(model, 2);  // same path, other weights
  const auto second = run_cli(eval_world(tmp.file("p.toml"), tmp.file("res")));
  INFO(second.output);
  REQUIRE(second.exit_code == 0);
  CHECK_FALSE(contains(second.output, "already stored"));
  const auto records = ovseg::load_records(tmp.file("res"));
  REQUIRE(records.size() == 2);
  CHECK(records[0]["models"] != records[1]["models"]);

  // Shard 0 with model 2, shard 1 with model 1: merge names the difference.
  REQUIRE(run_cli(eval_world(tmp.file("p.toml"), tmp.file("shards"), "--shard 0/2")).exit_code == 0);
  write_clip(model, 1);
  REQUIRE(run_cli(eval_world(tmp.file("p.toml"), tmp.file("shards"), "--shard 1/2")).exit_code == 0);
  std::string files;
  for (const auto& f : fs::directory_iterator(tmp.file("shards"))) files += " '" + f.path().string() + "'";
  const auto merged = run_cli("merge" + files + " --results '" + tmp.file("merged") + "'");
  CHECK(merged.exit_code != 0);
  CHECK(contains(merged.output, "differs"));
}

TEST_CASE("non-finite logits fail naming the node, and nothing is stored") {
  TempDir tmp;
  const std::string model = tmp.file("nan.safetensors");
  write_clip(model, 3, /*nan_projection=*/true);
  write_file(tmp.file("p.toml"), clip_pipeline(model));
  const auto r = run_cli(eval_world(tmp.file("p.toml"), tmp.file("res")));
  CHECK(r.exit_code == 1);
  CHECK(contains(r.output, "node 'upsample'"));
  CHECK(contains(r.output, "non-finite"));
  CHECK((!fs::exists(tmp.file("res")) || ovseg::load_records(tmp.file("res")).empty()));
}

TEST_CASE("a truncated image fails with its file named, in eval and in run") {
  TempDir tmp;
  fs::copy(world_root(), tmp.file("w"), fs::copy_options::recursive);
  fs::path image;
  for (const auto& f : fs::directory_iterator(fs::path(tmp.file("w")) / "val" / "images"))
    if (image.empty() || f.path() < image) image = f.path();
  REQUIRE(fs::exists(image));
  const std::string bytes = read_file(image.string());
  std::ofstream(image, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
  const auto r = run_cli("eval '" + kColourPipeline + "' --dataset world --data-root '" + tmp.file("w") +
                         "' --results '" + tmp.file("res") + "' --quiet");
  CHECK(r.exit_code == 1);
  CHECK(contains(r.output, image.filename().string()));
  CHECK(contains(r.output, "truncated"));
  const auto run = run_cli("run '" + kColourPipeline + "' --image '" + image.string() + "' --out '" + tmp.file("out") +
                           "'");
  CHECK(run.exit_code == 1);
  CHECK(contains(run.output, "truncated"));
}

TEST_CASE("refused before anything runs or is shown: --limit 0, a path as split, a missing device") {
  TempDir tmp;
  const std::string base = "eval '" + kColourPipeline + "' --dataset world --data-root '" + world_root() +
                           "' --results '" + tmp.file("res") + "' --quiet";
  auto r = run_cli(base + " --limit 0");
  CHECK(r.exit_code != 0);
  CHECK(contains(r.output, "--limit 0"));
  r = run_cli(base + " --split ../../etc");
  CHECK(r.exit_code != 0);
  CHECK(contains(r.output, "is not a split name"));
  REQUIRE(run_cli(base).exit_code == 0);  // stored now
  r = run_cli(base + " --device cuda:7");
  CHECK(r.exit_code != 0);
  CHECK_FALSE(contains(r.output, "already stored"));
}
