// The validated pipeline graph: every node's plugin is known, parameters are
// typed and complete, every input is wired to an output of the right type,
// there is no cycle, and nodes are in an order that can be executed.
#pragma once

#include <string>
#include <vector>

#include "ovseg/host/pipeline_spec.hpp"
#include "ovseg/host/plugin_loader.hpp"

namespace ovseg {

struct PortRef {
  int node = -1;  // index into Graph::nodes; -1 = the pipeline input node
  std::string port;
  std::string str(const class Graph& g) const;  // "node.port"
};

struct GraphNode {
  std::string id;
  const LoadedPlugin* plugin = nullptr;
  Params params;
  std::map<std::string, PortRef> inputs;  // input port -> producer
  SourceLocation where;
  // Learnable stages (see NodeSpec): the weights file, resolved against the
  // pipeline's folder ("" = none), and the trainable-name patterns (unset =
  // the stage's defaults).
  std::string weights;
  SourceLocation weights_where;
  std::optional<std::vector<std::string>> trainable;
  SourceLocation trainable_where;
};

class Graph {
 public:
  PipelineSpec spec;
  std::vector<GraphNode> nodes;          // topologically sorted
  PortRef logits_output;                 // [outputs] logits
  std::optional<PortRef> labels_output;  // [outputs] labels, else argmax of logits

  int index_of(const std::string& id) const;  // -1 when absent
  std::string describe() const;               // human-readable resolved graph
  std::string to_dot() const;                 // Graphviz
};

// Validates `spec` against the plugins in `catalog`; throws ovseg::Error with
// file:line:column, the node id and a fix on the first problem found.
Graph build_graph(PipelineSpec spec, const PluginCatalog& catalog);

}  // namespace ovseg
