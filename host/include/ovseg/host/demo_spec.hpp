// The demo file (pipelines/demo.toml): which technique pipelines `ovseg demo`
// runs on the procedural world with the embedded model, and how.
//
//   [demo]
//   model = "../host/models/embedded/world-clip.safetensors"  # relative to this file
//   world_version = 2          # the procedural world's version (default 2)
//   world_seed = 2026          # the evaluation scenes are a function of it
//   val_scenes = 100
//   val_size = 128             # scene side in pixels
//   set = ["protocol.window=64"]   # applied to every run
//
//   [[run]]
//   name = "naclip + pamr"     # the row name in the table
//   pipeline = "naclip_pamr.toml"
//   set = ["nodes.pamr.dilations=[1, 2]"]   # this run only
//
// Every run also gets nodes.clip.model / nodes.text.model = model,
// nodes.text.names_file = the world's class names, pipeline.name = name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ovseg/host/pipeline_spec.hpp"

namespace ovseg {

struct DemoRun {
  std::string name;
  std::string pipeline;             // resolved path
  std::vector<Override> overrides;  // the run's own
};

struct DemoSpec {
  std::string file;
  std::string model;  // resolved path
  int world_version = 2;
  uint64_t world_seed = 0;
  int val_scenes = 100;
  int val_size = 128;
  std::vector<Override> common;
  std::vector<DemoRun> runs;
};

// Errors name the file, line and key (ovseg::Error).
DemoSpec load_demo_spec(const std::string& path);

// The overrides run `r` is evaluated with: the demo's own (model, class
// names, name), then the common ones, then the run's.
std::vector<Override> demo_run_overrides(const DemoSpec& spec, const DemoRun& r, const std::string& class_names_file);

}  // namespace ovseg
