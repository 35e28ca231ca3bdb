// Runs a validated graph in dependency order on one device.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "ovseg/host/graph.hpp"
#include "ovseg/host/precision.hpp"
#include "ovseg/host/stage_weights.hpp"
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

// Per node: whether an [outputs] port or a declared training loss depends on
// it. The others (dead branches) are never instantiated or run; a pipeline
// with many unused nodes ran them all.
std::vector<bool> live_nodes(const Graph& graph);

class Executor {
 public:
  // Instantiates the stage of every node an output depends on (or that
  // declares a training loss) on `device` ("cpu", "cuda", "cuda:N") and loads
  // its `weights` file; other nodes never run. The graph (and the catalog its
  // plugins came from) must outlive this.
  // `vocabulary` (the data set's classes with synonyms) and `unseen_classes`
  // (the zero-shot split's unseen display names) reach the stages as
  // StageInit::vocabulary and StageInit::unseen_classes.
  // `precision` bf16 / fp16: the stages runs_in_reduced_precision() names
  // are built and run under autocast (precision.hpp), their outputs cast
  // back to float32; fp32 (the default) runs everything in float32.
  Executor(const Graph& graph, const std::string& device, std::vector<std::vector<std::string>> vocabulary = {},
           std::vector<std::string> unseen_classes = {}, Precision precision = Precision::fp32);
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
  Precision precision() const { return precision_; }
  const Graph& graph() const { return graph_; }

  // ---- training ----
  // Train mode: stages get set_training(true), run with autograd, and may add
  // auxiliary losses. Eval mode (the default) runs without gradients.
  void set_training(bool training);
  bool training() const { return training_; }
  // Auxiliary losses ("node.name") the last run_nodes() added; train mode only.
  const std::map<std::string, at::Tensor>& aux_losses() const { return aux_losses_; }
  // Every stage's parameters and buffers, trainability resolved from the
  // nodes' `trainable` patterns (asked of the stages once, then cached).
  const std::vector<LearnableTensor>& learnable_tensors();

 private:
  const Graph& graph_;
  at::Device device_;
  Precision precision_ = Precision::fp32;
  std::vector<bool> reduced_;  // per node: built and run under autocast
  // Libraries are declared before stages so they are unloaded after them.
  std::vector<std::shared_ptr<void>> libraries_;
  std::vector<bool> live_;                      // per node: some output or loss depends on it
  std::set<std::string> wanted_;                // "node.port" read by a live node or [outputs]
  std::vector<std::unique_ptr<Stage>> stages_;  // parallel to graph_.nodes; null when not live
  bool training_ = false;
  std::map<std::string, at::Tensor> aux_losses_;
  bool learnable_ready_ = false;
  std::vector<LearnableTensor> learnable_;
};

}  // namespace ovseg
