// The trained methods' CLI tests share one setting: a small world of 64 px
// scenes with a declared zero-shot split (star and water unseen), a pipeline
// trained on it by `ovseg train`, and `ovseg eval` of the weights it wrote.
// Each test states only its pipeline and what it checks.
#pragma once

#include <nlohmann/json.hpp>

#include <set>
#include <string>

#include "eval/eval_test_util.hpp"
#include "ovseg/world/world.hpp"

namespace eval_test {

// The pipeline header at the world's scale: 64 px images, 32 px windows.
inline std::string world_pipeline_header(const std::string& name) {
  return "[pipeline]\nname = \"" + name + "\"\n[protocol]\nshort_side = 64\nwindow = 32\nstride = 32\n";
}

// The shipped world CLIP's text tower, one template, no cache.
inline std::string world_text_node() {
  return "[nodes.text]\nplugin = \"clip_text\"\nmodel = \"" + kEmbeddedClip +
         "\"\ntemplates = \"single\"\ncache = false\n";
}

class SplitWorldTraining {
 public:
  // Writes `train_scenes` training and 2 validation scenes and the pipeline
  // as NAME.toml into a fresh temporary folder.
  SplitWorldTraining(const std::string& name, const std::string& pipeline_toml, int train_scenes)
      : pipeline_(dir_.file(name + ".toml")) {
    ovseg::world::SceneOptions o;
    o.width = o.height = 64;
    ovseg::world::write_world_split(dir_.file("world"), "train", train_scenes, 5, o);
    ovseg::world::write_world_split(dir_.file("world"), "val", 2, 5, o);
    write_file(dir_.file("world/unseen_classes.txt"), "star\nwater\n");
    write_file(pipeline_, pipeline_toml);
  }

  // `ovseg train` into run/; on success run() and trained() read what it wrote.
  CliResult train() const {
    return run_cli("train '" + pipeline_ + "' --out '" + dir_.file("run") + "'" + data_flags());
  }
  nlohmann::json run() const { return nlohmann::json::parse(read_file(dir_.file("run/run.json"))); }
  std::set<std::string> trained() const {
    std::set<std::string> keys;
    const nlohmann::json r = run();  // kept: a range over run()["trainable"] would dangle
    for (const auto& t : r["trainable"]) keys.insert(t["key"].get<std::string>());
    return keys;
  }
  std::string weights() const { return dir_.file("run/weights.safetensors"); }
  std::string curves() const { return read_file(dir_.file("run/curves.csv")); }

  // `ovseg eval` of the trained weights into res/, with extra flags.
  CliResult eval(const std::string& extra = "") const {
    return run_cli("eval '" + pipeline_ + "' --weights '" + weights() + "' --results '" + dir_.file("res") + "'" +
                   data_flags() + extra);
  }

 private:
  std::string data_flags() const { return " --dataset world --data-root '" + dir_.file("world") + "' --quiet"; }

  TempDir dir_;
  std::string pipeline_;
};

}  // namespace eval_test
