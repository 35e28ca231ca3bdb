// Runs a validated graph in dependency order on one device.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "ovseg/host/graph.hpp"
#include "ovseg/sdk/stage.hpp"

namespace ovseg {

struct NodeTiming {
  std::string node;
  double milliseconds = 0;
};

struct RunResult {
  std::map<std::string, PortValue> values;  // "node.port" -> value
  std::vector<NodeTiming> timings;          // in execution order
  Logits logits;                            // [outputs] logits
  LabelMap labels;                          // [outputs] labels, else argmax(logits)
};

class Executor {
 public:
  // Instantiates every node's stage on `device` ("cpu", "cuda", "cuda:N").
  // The graph (and the catalog its plugins came from) must outlive this.
  Executor(const Graph& graph, const std::string& device);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // `image.pixels` is (B,3,H,W) float in [0,1]; it is moved to the device.
  RunResult run(const Image& image);

  // Runs only the nodes i with run_node[i] (in graph order) on `image`, with
  // `values` ("node.port" -> value) already available as inputs: the harness
  // splits a graph into a per-window and a per-image phase this way. Returns
  // every value (given and produced); appends per-node times to `timings`.
  std::map<std::string, PortValue> run_nodes(const Image& image, const std::vector<bool>& run_node,
                                             std::map<std::string, PortValue> values,
                                             std::vector<NodeTiming>* timings = nullptr);

  at::Device device() const { return device_; }
  const Graph& graph() const { return graph_; }

 private:
  const Graph& graph_;
  at::Device device_;
  // Libraries are declared before stages so they are unloaded after them.
  std::vector<std::shared_ptr<void>> libraries_;
  std::set<std::string> wanted_;  // "node.port" read by some node or [outputs]
  std::vector<std::unique_ptr<Stage>> stages_;  // parallel to graph_.nodes
};

}  // namespace ovseg
