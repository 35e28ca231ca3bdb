// A pipeline TOML file as written, before plugins are consulted: nodes with
// their plugin name, input wiring and raw parameter values, each remembering
// where in the file it came from. No toml++ types leak out of here.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ovseg/sdk/diagnostics.hpp"
#include "ovseg/sdk/plugin.hpp"

namespace ovseg {

struct SpecValue {
  ParamValue value;
  SourceLocation where;
  bool empty_list = false;  // `[]` fits any list type
};

struct InputRef {
  std::string port;         // this node's input port
  std::string source_node;  // "input" for the pipeline's own inputs
  std::string source_port;
  SourceLocation where;
};

struct NodeSpec {
  std::string id;
  std::string plugin;
  SourceLocation where;         // the [nodes.id] header
  SourceLocation plugin_where;  // the plugin = "..." line
  std::vector<InputRef> inputs;
  std::map<std::string, SpecValue> params;
  // Host keys for learnable stages (not plugin parameters):
  //   weights = "run/weights.safetensors"  trained tensors loaded into the stage
  //   trainable = ["pattern", ...]         which of its parameters train (glob
  //                                        on parameter names; [] freezes all)
  std::optional<SpecValue> weights;
  std::optional<SpecValue> trainable;
};

struct OutputRef {
  std::string source_node, source_port;
  SourceLocation where;
};

struct PipelineSpec {
  std::string file;          // path as given
  std::string name;          // [pipeline] name, else the file stem
  std::string description;
  std::vector<NodeSpec> nodes;            // in file order
  std::map<std::string, OutputRef> outputs;  // [outputs] logits/labels
  std::map<std::string, SpecValue> protocol;  // [protocol], owned by the harness
  // [train], the training recipe (host/train/train_recipe.hpp), flattened:
  // sub-tables as dotted keys ("losses.ce", "augment.crop"), arrays of
  // tables by index ("param_groups.0.match").
  std::map<std::string, SpecValue> train;
  std::string resolved_toml;  // the file after overrides, re-serialised
};

// `--set nodes.X.param=value`: the value is parsed as TOML (so 3, 2.5, true,
// [8, 16] and "text" work) and taken as a bare string when it is not TOML.
struct Override {
  std::vector<std::string> path;  // e.g. {"nodes", "pamr", "iterations"}
  std::string value_text;
  std::string original;           // as typed, for error messages
};
Override parse_override(const std::string& text);

// The built-in source node: input.image carries the image being segmented.
inline constexpr const char* kInputNodeId = "input";

PipelineSpec load_pipeline_spec(const std::string& path, const std::vector<Override>& overrides = {});
PipelineSpec parse_pipeline_spec(const std::string& toml_text, const std::string& file_name,
                                 const std::vector<Override>& overrides = {});

}  // namespace ovseg
