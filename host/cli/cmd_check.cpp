// `ovseg check PIPELINE.toml`: validate without running, print the resolved
// graph, optionally write Graphviz.
#include <fstream>
#include <iostream>

#include "commands.hpp"
#include "ovseg/sdk/diagnostics.hpp"
#include "ovseg/host/device.hpp"
#include "ovseg/host/graph.hpp"
#include "ovseg/host/protocol.hpp"

namespace ovseg::cli {

namespace {

int run_check(const ParsedArgs& args) {
  PluginCatalog catalog = load_catalog(args);
  Graph graph = build_graph(load_spec(args.positionals[0], args), catalog);
  if (args.has("--device")) parse_device(args.get("--device"));  // fail now, not at run time
  const Protocol protocol = parse_protocol(graph.spec);
  if (args.has("--print")) {
    // The document that runs: base chain merged, the data set's settings
    // applied, --unset / --set done.
    std::cout << "# " << graph.spec.file;
    for (size_t i = 1; i < graph.spec.files.size(); ++i) std::cout << " <- base " << graph.spec.files[i];
    std::cout << "\n# data set settings applied: "
              << (graph.spec.dataset.empty() ? "none (give --dataset NAME)" : graph.spec.dataset)
              << "\n# data sets with settings:";
    for (const auto& d : graph.spec.dataset_tables) std::cout << " " << d;
    std::cout << "\n" << graph.spec.resolved_toml << "\n\n";
  }
  std::cout << graph.describe();
  std::cout << "evaluation protocol (defaults filled in): " << protocol.to_json().dump() << "\n";
  if (args.has("--dot")) {
    const std::string path = args.get("--dot");
    std::ofstream out(path);
    if (!out) throw Error({path, 0, 0}, "", "cannot write Graphviz file", "check the folder exists");
    out << graph.to_dot();
    std::cout << "wrote " << path << "\n";
  }
  std::cout << "ok: " << graph.nodes.size() << " nodes valid\n";
  return 0;
}

}  // namespace

Command check_command() {
  CommandSpec spec;
  spec.name = "check";
  spec.summary = "validate a pipeline and print the resolved graph";
  spec.usage = "PIPELINE.toml [--dataset NAME] [--print] [--set nodes.X.p=V]... [--dot FILE]";
  spec.min_positionals = spec.max_positionals = 1;
  spec.options = pipeline_options();
  spec.options.push_back({"--dot", "FILE", "write the graph as Graphviz dot", false});
  spec.options.push_back(
      {"--dataset", "NAME", "apply the pipeline's settings for this data set ([datasets.NAME])", false});
  spec.options.push_back({"--print", "",
                          "print the resolved pipeline TOML (base merged, data-set settings and overrides applied)",
                          false});
  return {spec, run_check};
}

}  // namespace ovseg::cli
