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
  spec.usage = "PIPELINE.toml [--set nodes.X.p=V]... [--dot FILE]";
  spec.min_positionals = spec.max_positionals = 1;
  spec.options = pipeline_options();
  spec.options.push_back({"--dot", "FILE", "write the graph as Graphviz dot", false});
  return {spec, run_check};
}

}  // namespace ovseg::cli
