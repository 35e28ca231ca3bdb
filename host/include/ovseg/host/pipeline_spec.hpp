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
  std::string file;  // path as given
  std::string name;  // [pipeline] name, else the file stem
  std::string description;
  std::vector<NodeSpec> nodes;                // in file order
  std::map<std::string, OutputRef> outputs;   // [outputs] logits/labels
  std::map<std::string, SpecValue> protocol;  // [protocol], owned by the harness
  // [train], the training recipe (host/train/train_recipe.hpp), flattened:
  // sub-tables as dotted keys ("losses.ce", "augment.crop"), arrays of
  // tables by index ("param_groups.0.match").
  std::map<std::string, SpecValue> train;
  std::string resolved_toml;  // the file after base, dataset settings and overrides, re-serialised
  // Per-dataset settings (`[datasets.NAME]` tables, pipeline_document.hpp):
  // the data sets the pipeline has settings for (canonical names) and the one
  // applied to this spec ("" when loaded without a data set).
  std::vector<std::string> dataset_tables;
  std::string dataset;
  // The pipeline before any data set's settings were applied ([datasets]
  // tables kept) and the command-line edits: what one table row is. The
  // same pipeline evaluated on two data sets shares them.
  std::string family_toml;
  std::vector<std::string> family_edits;  // "--set a.b=1", "--unset c" as typed
  // The base chain, this file first (`base = "other.toml"`).
  std::vector<std::string> files;
  // [vocabulary] map = { "pipeline class" = "dataset class" }: the pipeline
  // declares how its classes name the data set's (eval remaps predictions).
  // Without it the pipeline's classes must be the data set's, in order.
  std::map<std::string, std::string> class_map;
  bool has_class_map = false;
};

// `--set nodes.X.param=value`: the value is parsed as TOML (so 3, 2.5, true,
// [8, 16] and "text" work) and taken as a bare string when it is not TOML.
struct Override {
  std::vector<std::string> path;  // e.g. {"nodes", "pamr", "iterations"}
  std::string value_text;
  std::string original;  // as typed, for error messages
  bool unset = false;    // `--unset path`: delete the key (or table)
};
Override parse_override(const std::string& text);
// `--unset nodes.refine.attention`: deletes that key; it must exist. Every
// --unset applies before the --set values, so a key can be replaced cleanly
// (--unset nodes.crf --set nodes.crf.plugin=...).
Override parse_unset(const std::string& text);

// The built-in source node: input.image carries the image being segmented.
inline constexpr const char* kInputNodeId = "input";

// `dataset` (a data-set name or alias; "" = none) applies the pipeline's
// [datasets.<name>] settings before the overrides (pipeline_document.hpp).
PipelineSpec load_pipeline_spec(const std::string& path, const std::vector<Override>& overrides = {},
                                const std::string& dataset = "");
PipelineSpec parse_pipeline_spec(const std::string& toml_text, const std::string& file_name,
                                 const std::vector<Override>& overrides = {}, const std::string& dataset = "");

}  // namespace ovseg
