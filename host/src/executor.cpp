#include "ovseg/host/executor.hpp"

#include <chrono>
#include <filesystem>
#include <optional>
#include <set>
#include <torch/cuda.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x

#include <c10/util/Exception.h>

#include <new>

#include "ovseg/host/device.hpp"
#include "ovseg/host/ground_truth.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/sdk/autocast.hpp"
#include "ovseg/sdk/diagnostics.hpp"
#include "ovseg/sdk/synonyms.hpp"

namespace ovseg {

namespace {

class NodeContext final : public StageContext {
 public:
  NodeContext(const GraphNode& node, at::Device device, std::map<std::string, const PortValue*> inputs,
              const std::set<std::string>& wanted, std::map<std::string, at::Tensor>* aux_losses)
      : node_(node), device_(device), inputs_(std::move(inputs)), wanted_(wanted), aux_losses_(aux_losses) {}

  const std::string& node_id() const override { return node_.id; }
  at::Device device() const override { return device_; }
  bool has_input(const std::string& port) const override { return inputs_.count(port) != 0; }

  const PortValue& input_value(const std::string& port) const override {
    auto it = inputs_.find(port);
    if (it == inputs_.end())
      throw Error({}, node_.id, "reads input '" + port + "', which is not connected",
                  "declare it in the plugin's describe() and wire it in the pipeline");
    return *it->second;
  }

  void set_output(const std::string& port, PortValue value) override {
    const PortSpec* spec = node_.plugin->descriptor.find_output(port);
    if (spec == nullptr)
      throw Error({}, node_.id, "sets undeclared output '" + port + "'", "declare it with .output() in describe()");
    if (spec->type != port_type(value))
      throw Error({}, node_.id,
                  "sets output '" + port + "' to " + to_string(port_type(value)) + ", declared " +
                      to_string(spec->type),
                  "fix the plugin");
    outputs_[port] = std::move(value);
  }

  bool wants_output(const std::string& port) const override { return wanted_.count(node_.id + "." + port) != 0; }

  bool training() const override { return aux_losses_ != nullptr; }

  void add_loss(const std::string& name, const at::Tensor& value) override {
    if (aux_losses_ == nullptr) return;
    if (node_.plugin->descriptor.find_loss(name) == nullptr)
      throw Error({}, node_.id, "adds undeclared loss '" + name + "'", "declare it with .loss() in describe()");
    if (!value.defined() || value.numel() != 1)
      throw Error({}, node_.id, "loss '" + name + "' is " + shape_string(value) + ", not a scalar",
                  "reduce it to one number (mean or sum) before add_loss()");
    at::Tensor& slot = (*aux_losses_)[node_.id + "." + name];
    slot = slot.defined() ? slot + value.reshape({}) : value.reshape({});
  }

  std::map<std::string, PortValue>& outputs() { return outputs_; }

 private:
  const GraphNode& node_;
  at::Device device_;
  std::map<std::string, const PortValue*> inputs_;
  std::map<std::string, PortValue> outputs_;
  const std::set<std::string>& wanted_;
  std::map<std::string, at::Tensor>* aux_losses_;  // null unless training
};

std::string key(const std::string& node, const std::string& port) { return node + "." + port; }

// Allocation failures: std::bad_alloc, c10's CUDA OutOfMemoryError and its
// CPU allocator's "not enough memory" (a plain c10::Error).
bool is_out_of_memory(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e) || dynamic_cast<const c10::OutOfMemoryError*>(&e)) return true;
  const std::string m = e.what();
  return m.find("out of memory") != std::string::npos || m.find("not enough memory") != std::string::npos;
}

// An exception's first line (c10 appends a stack trace).
std::string first_line(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  const std::string m = c10_error ? c10_error->what_without_backtrace() : e.what();
  return m.substr(0, m.find('\n'));
}

// The main tensor a port carries (undefined for models and prompts).
at::Tensor main_tensor(const PortValue& v) {
  if (const auto* x = std::get_if<Image>(&v)) return x->pixels;
  if (const auto* x = std::get_if<Tokens>(&v)) return x->tokens;
  if (const auto* x = std::get_if<FeatureMap>(&v)) return x->features;
  if (const auto* x = std::get_if<TextEmbeddings>(&v)) return x->embeddings;
  if (const auto* x = std::get_if<Logits>(&v)) return x->logits;
  if (const auto* x = std::get_if<LabelMap>(&v)) return x->labels;
  if (const auto* x = std::get_if<Masks>(&v)) return x->logits;
  return {};
}

// "image (1, 3, 12000, 12000), logits (1, 21, 750, 750)": what a node was
// given, for an out-of-memory report.
std::string input_shapes(const std::map<std::string, const PortValue*>& inputs) {
  std::string s;
  for (const auto& [port, value] : inputs) {
    const at::Tensor t = main_tensor(*value);
    s += (s.empty() ? "" : ", ") + port + " " + (t.defined() ? shape_string(t) : std::string("(no tensor)"));
  }
  return s.empty() ? "no inputs" : s;
}

// Autocast for a node that runs in reduced precision (left empty otherwise).
void enter_reduced_precision(std::optional<AutocastScope>& scope, bool reduced, Precision p, at::Device device) {
  if (reduced && p != Precision::fp32) scope.emplace(device, p == Precision::bf16 ? at::kBFloat16 : at::kHalf);
}

void to_float(at::Tensor& t) {
  if (t.defined() && t.is_floating_point() && t.scalar_type() != at::kFloat) t = t.to(at::kFloat);
}

// What a reduced-precision node hands on is float32 again (every floating
// tensor of its port payload), so fusion, postprocessing and the harness
// never see bf16 / fp16.
void outputs_to_float(PortValue& v) {
  std::visit(
      [](auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Image>) to_float(x.pixels);
        if constexpr (std::is_same_v<T, Tokens>) to_float(x.tokens);
        if constexpr (std::is_same_v<T, FeatureMap>) to_float(x.features);
        if constexpr (std::is_same_v<T, TextEmbeddings>) to_float(x.embeddings);
        if constexpr (std::is_same_v<T, Logits>) to_float(x.logits);
        if constexpr (std::is_same_v<T, Prompts>) {
          to_float(x.points);
          to_float(x.boxes);
          to_float(x.mask_inputs);
        }
        if constexpr (std::is_same_v<T, Masks>) {
          to_float(x.logits);
          to_float(x.scores);
          to_float(x.low_res);
        }
      },
      v);
}

}  // namespace

std::vector<bool> live_nodes(const Graph& graph) {
  std::vector<bool> live(graph.nodes.size(), false);
  if (graph.logits_output.node >= 0) live[graph.logits_output.node] = true;
  if (graph.labels_output && graph.labels_output->node >= 0) live[graph.labels_output->node] = true;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (!graph.nodes[i].plugin->descriptor.losses.empty()) live[i] = true;
  // Nodes are in topological order: one backward sweep finds all ancestors.
  for (size_t i = graph.nodes.size(); i-- > 0;)
    if (live[i])
      for (const auto& [port, ref] : graph.nodes[i].inputs)
        if (ref.node >= 0) live[ref.node] = true;
  return live;
}

Executor::Executor(const Graph& graph, const std::string& device, std::vector<std::vector<std::string>> vocabulary,
                   std::vector<std::string> unseen_classes, Precision precision)
    : graph_(graph), device_(parse_device(device)), precision_(precision), live_(live_nodes(graph)) {
  check_precision_device(precision_, device);
  for (size_t i = 0; i < graph_.nodes.size(); ++i)
    if (live_[i])
      for (const auto& [port, ref] : graph_.nodes[i].inputs) wanted_.insert(ref.str(graph_));
  wanted_.insert(graph_.logits_output.str(graph_));
  if (graph_.labels_output) wanted_.insert(graph_.labels_output->str(graph_));
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    const GraphNode& node = graph_.nodes[i];
    libraries_.push_back(node.plugin->library);
    stages_.emplace_back();
    reduced_.push_back(precision_ != Precision::fp32 && runs_in_reduced_precision(node.plugin->descriptor));
    if (!live_[i]) continue;
    StageInit init;
    init.node_id = node.id;
    init.params = node.params;
    init.device = device;
    init.vocabulary = vocabulary;
    init.unseen_classes = unseen_classes;
    init.pipeline_dir = std::filesystem::path(graph_.spec.file).parent_path().string();
    try {
      // Under autocast too: some encoders compute at construction (clip_text's embeddings).
      std::optional<AutocastScope> autocast;
      enter_reduced_precision(autocast, reduced_[i], precision_, device_);
      stages_.back() = node.plugin->descriptor.create(init);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(node.where, node.id,
                  std::string("plugin '") + node.plugin->descriptor.name + "' failed to initialise: " + e.what());
    }
  }
  // Trained weights: each file is read once, each node takes its own keys.
  std::map<std::string, WeightsFile> files;
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    const GraphNode& node = graph_.nodes[i];
    if (node.weights.empty() || !live_[i]) continue;
    auto it = files.find(node.weights);
    if (it == files.end()) {
      if (!std::filesystem::is_regular_file(node.weights))
        throw Error(node.weights_where, node.id, "weights file " + node.weights + " not found",
                    "relative paths are resolved against the pipeline's folder");
      try {
        it = files.emplace(node.weights, models::load_safetensors(node.weights)).first;
      } catch (const std::exception& e) {
        throw Error(node.weights_where, node.id, std::string("cannot read weights: ") + e.what(),
                    "weights files are the safetensors files `ovseg train` writes");
      }
    }
    std::vector<LearnableTensor> mine;
    for (const auto& t : learnable_tensors())
      if (t.node == static_cast<int>(i)) mine.push_back(t);
    load_node_weights(node, node.weights, it->second, mine);
  }
}

const std::vector<LearnableTensor>& Executor::learnable_tensors() {
  if (learnable_ready_) return learnable_;
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    if (!live_[i]) continue;
    const GraphNode& node = graph_.nodes[i];
    std::vector<LearnableTensor> mine;
    std::set<std::string> names;
    auto add = [&](const std::vector<NamedTensor>& list, bool buffer) {
      for (const auto& nt : list) {
        if (!names.insert(nt.name).second || !nt.tensor.defined())
          throw Error(node.where, node.id,
                      "plugin '" + node.plugin->descriptor.name + "' reports tensor '" + nt.name +
                          "' twice or undefined",
                      "fix the plugin's parameters()/buffers()");
        mine.push_back({static_cast<int>(i), node.id, nt.name, nt.tensor, !buffer && nt.trainable, buffer});
      }
    };
    add(stages_[i]->parameters(), false);
    add(stages_[i]->buffers(), true);
    resolve_trainable(node, mine);
    learnable_.insert(learnable_.end(), mine.begin(), mine.end());
  }
  learnable_ready_ = true;
  return learnable_;
}

void Executor::set_training(bool training) {
  if (training && !learnable_ready_) learnable_tensors();
  training_ = training;
  for (auto& stage : stages_)
    if (stage) stage->set_training(training);
  // Autograd tracks exactly the trainable tensors while training.
  for (auto& t : learnable_) t.tensor.requires_grad_(training && t.trainable);
}

Executor::~Executor() {
  stages_.clear();  // destroy stages while their libraries are still loaded
}

std::map<std::string, PortValue> Executor::run_nodes(const Image& image, const std::vector<bool>& run_node,
                                                     std::map<std::string, PortValue> values,
                                                     std::vector<NodeTiming>* timings) {
  expect_shape(image.pixels, {-1, 3, -1, -1}, "input image");
  // Evaluation needs no autograd bookkeeping; training records it.
  std::optional<at::NoGradGuard> no_grad;
  if (!training_) no_grad.emplace();
  aux_losses_.clear();
  values[key(kInputNodeId, "image")] = Image{image.pixels.to(device_, at::kFloat)};
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    if (!live_[i] || (i < run_node.size() && !run_node[i])) continue;
    const GraphNode& node = graph_.nodes[i];
    std::map<std::string, const PortValue*> inputs;
    for (const auto& [port, ref] : node.inputs) {
      auto it = values.find(ref.str(graph_));
      // An optional port on the ground truth is a training signal: absent
      // outside `ovseg train`, the stage runs as at inference.
      if (it == values.end() && !training_ && training_only_truth(node, port)) continue;
      if (it == values.end() && ref.node < 0)
        throw Error(node.where, node.id,
                    "input '" + port + "' reads " + ref.str(graph_) +
                        ", the ground truth, which exists only under "
                        "`ovseg train` and `ovseg eval`",
                    "use this pipeline with train / eval, or wire the input to a node");
      if (it == values.end())
        throw Error(node.where, node.id, "input '" + port + "' (" + ref.str(graph_) + ") has no value",
                    "its producer did not run in this phase");
      inputs[port] = &it->second;
    }
    const std::map<std::string, const PortValue*> given = inputs;
    NodeContext ctx(node, device_, std::move(inputs), wanted_, training_ ? &aux_losses_ : nullptr);
    auto t0 = std::chrono::steady_clock::now();
    // Out of memory is named with the node and what it was given: the usual
    // cause is an image too large for the pipeline's resolution.
    const auto out_of_memory = [&](const std::string& what) {
      return Error(node.where, node.id,
                   "out of memory (" + what + ") in plugin '" + node.plugin->descriptor.name + "' on inputs " +
                       input_shapes(given),
                   "use a smaller image, or a [protocol] that resizes or slides windows (see `ovseg eval`)");
    };
    try {
      std::optional<AutocastScope> autocast;
      enter_reduced_precision(autocast, reduced_[i], precision_, device_);
      stages_[i]->run(ctx);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      if (is_out_of_memory(e)) throw out_of_memory(first_line(e));
      throw Error(node.where, node.id,
                  std::string("plugin '") + node.plugin->descriptor.name + "' failed: " + e.what());
    }
    if (device_.is_cuda()) torch::cuda::synchronize(device_.index());  // honest timings
    auto t1 = std::chrono::steady_clock::now();
    for (const auto& out : node.plugin->descriptor.outputs)
      if (ctx.wants_output(out.name) && !ctx.outputs().count(out.name))
        throw Error(node.where, node.id,
                    "plugin '" + node.plugin->descriptor.name + "' did not set output '" + out.name + "'",
                    "every declared output must be set in run()");
    for (auto& [port, value] : ctx.outputs()) {
      if (reduced_[i]) outputs_to_float(value);
      values[key(node.id, port)] = std::move(value);
    }
    if (timings) timings->push_back({node.id, std::chrono::duration<double, std::milli>(t1 - t0).count()});
  }
  return values;
}

RunResult Executor::run(const Image& image) {
  RunResult result;
  result.values = run_nodes(image, std::vector<bool>(graph_.nodes.size(), true), {}, &result.timings);
  result.logits = std::get<Logits>(result.values.at(graph_.logits_output.str(graph_)));
  if (graph_.labels_output) {
    result.labels = std::get<LabelMap>(result.values.at(graph_.labels_output->str(graph_)));
  } else {
    result.labels = argmax_labels(result.logits.logits, result.logits.class_names);
  }
  return result;
}

}  // namespace ovseg
