// `ovseg params PIPELINE.toml`: every learnable tensor of every node (name,
// shape, trainable or frozen under the node's `trainable` patterns), the
// names `trainable` patterns, [[train.param_groups]] and weights files use.
#include <cstdio>
#include <iostream>
#include <map>

#include "commands.hpp"
#include "ovseg/host/device.hpp"
#include "ovseg/host/executor.hpp"
#include "ovseg/host/graph.hpp"

namespace ovseg::cli {

namespace {

std::string shape_text(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

int run_params_cmd(const ParsedArgs& args) {
  PluginCatalog catalog = load_catalog(args);
  Graph graph = build_graph(load_spec(args.positionals[0], args), catalog);
  Executor executor(graph, args.get("--device", default_device()));
  const bool all = args.has("--all");
  std::map<std::string, std::pair<int64_t, int64_t>> totals;  // node -> (trainable, frozen)
  for (const auto& t : executor.learnable_tensors()) {
    auto& [trainable, frozen] = totals[t.node_id];
    if (!t.buffer) (t.trainable ? trainable : frozen) += t.tensor.numel();
    if (all || t.trainable || t.buffer)
      std::cout << (t.buffer      ? "buffer    "
                    : t.trainable ? "trainable "
                                  : "frozen    ")
                << t.key() << " " << shape_text(t.tensor) << "\n";
  }
  if (totals.empty()) std::cout << "no node of this pipeline has learnable tensors\n";
  for (const auto& [node, counts] : totals)
    std::printf("node %s: %lld trainable, %lld frozen parameters\n", node.c_str(), static_cast<long long>(counts.first),
                static_cast<long long>(counts.second));
  return 0;
}

}  // namespace

Command params_command() {
  CommandSpec spec;
  spec.name = "params";
  spec.summary = "list a pipeline's learnable tensors and what trains";
  spec.usage = "PIPELINE.toml [--all] [--set ...]";
  spec.min_positionals = spec.max_positionals = 1;
  spec.options = pipeline_options();
  spec.options.push_back({"--all", "", "also list frozen parameters (default: trainable ones and buffers)", false});
  spec.details =
      "Names are what a node's `trainable = [\"pattern\"]` globs ('*' any run of characters) match;\n"
      "weights files prefix them with the node id.";
  return {spec, run_params_cmd};
}

}  // namespace ovseg::cli
