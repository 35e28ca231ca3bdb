// The learnable tensors of a pipeline's stages, and their weights files.
//
// A stage reports its parameters (each with a default trainability) and
// buffers (Stage::parameters(), Stage::buffers()); a node's `trainable =
// [patterns]` overrides the defaults by name. A weights file is a
// safetensors file whose keys are "<node id>.<tensor name>", holding what a
// training run changed: every trainable parameter and every buffer of the
// nodes it trained. A node's `weights = "FILE"` loads its own keys back.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "ovseg/host/graph.hpp"
#include "ovseg/sdk/glob_match.hpp"

namespace ovseg {

struct LearnableTensor {
  int node = -1;  // index into Graph::nodes
  std::string node_id;
  std::string name;        // as the stage names it
  at::Tensor tensor;       // the stage's own storage
  bool trainable = false;  // after the node's `trainable` patterns; never for buffers
  bool buffer = false;
  std::string key() const { return node_id + "." + name; }
};

// Which of a node's parameters train: its `trainable` patterns when set (each
// must match at least one name, else an Error naming the node, the pattern
// and near names), else each parameter's default. Buffers never train.
void resolve_trainable(const GraphNode& node, std::vector<LearnableTensor>& node_tensors);

// Writes the trainable parameters and all buffers of `tensors` (float32, CPU)
// atomically (a temporary file renamed into place). `metadata` is stored in
// the safetensors header; "ovseg.nodes" lists the nodes written.
void save_stage_weights(const std::string& path, const std::vector<LearnableTensor>& tensors,
                        std::map<std::string, std::string> metadata = {});

// The node ids a weights file holds (its "ovseg.nodes" metadata, else the
// key prefixes). Throws CheckpointError naming the file if it cannot be read.
std::vector<std::string> weights_file_nodes(const std::string& path);

// The keys and tensors of a weights file, read once per path and process
// call site (the executor caches them per run).
using WeightsFile = std::map<std::string, at::Tensor>;

// Copies node `node`'s tensors from `file` (read from `path`) into its
// learnable tensors. Errors (ovseg::Error at the node's `weights` line) name
// the node and the key: the file holds nothing for the node; a key the stage
// does not have (near names suggested); a shape that differs; a trainable
// parameter or buffer of the node missing from the file.
void load_node_weights(const GraphNode& node, const std::string& path, const WeightsFile& file,
                       const std::vector<LearnableTensor>& node_tensors);

}  // namespace ovseg
