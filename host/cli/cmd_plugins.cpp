// `ovseg plugins [NAME]`: what can go in a pipeline, with every parameter's
// type, default and one-line doc.
#include <iostream>

#include "commands.hpp"
#include "ovseg/sdk/diagnostics.hpp"
#include "ovseg/host/plugin_loader.hpp"

namespace ovseg::cli {

namespace {

void print_plugin(const LoadedPlugin& p, bool verbose) {
  const PluginDescriptor& d = p.descriptor;
  std::cout << d.name << "  [" << to_string(d.kind) << "]  " << d.summary << "\n";
  for (const auto& in : d.inputs)
    std::cout << "    in   " << in.name << ": " << to_string(in.type) << (in.optional ? " (optional)" : "") << "  "
              << in.doc << "\n";
  for (const auto& out : d.outputs)
    std::cout << "    out  " << out.name << ": " << to_string(out.type) << "  " << out.doc << "\n";
  for (const auto& prm : d.params) {
    std::cout << "    param " << prm.name << ": " << to_string(prm.type) << " = "
              << format_param_value(prm.default_value) << "  " << prm.doc;
    if (!prm.choices.empty()) {
      std::cout << " {";
      for (size_t i = 0; i < prm.choices.size(); ++i) std::cout << (i ? ", " : "") << prm.choices[i];
      std::cout << "}";
    }
    if (prm.min || prm.max) std::cout << " " << format_param_range(prm);
    std::cout << "\n";
  }
  for (const auto& l : d.losses)
    std::cout << "    loss  " << l.name << "  " << l.doc << " (weight it as \"<node>." << l.name
              << "\" in [train.losses])\n";
  if (d.zero_shot_split)
    std::cout << "    reads the zero-shot split (seen / unseen classes): eval records are keyed by it\n";
  if (verbose) std::cout << "    library " << p.library_path << "\n";
  std::cout << "\n";
}

int run_plugins(const ParsedArgs& args) {
  PluginCatalog catalog = load_catalog(args);
  if (!args.positionals.empty()) {
    const std::string& name = args.positionals[0];
    const LoadedPlugin* p = catalog.find(name);
    if (p == nullptr) {
      std::cerr << "error: no plugin named '" << name << "'" << did_you_mean(name, catalog.names())
                << " -- fix: run `ovseg plugins` to list them\n";
      return 1;
    }
    print_plugin(*p, true);
    return 0;
  }
  if (catalog.plugins().empty()) {
    std::cerr << "error: no plugins found; searched:";
    for (const auto& d : catalog.searched_dirs()) std::cerr << " " << d;
    std::cerr << " -- fix: set OVSEG_PLUGIN_PATH or pass --plugin-dir\n";
    return 1;
  }
  for (StageKind kind : {StageKind::Encoder, StageKind::Refinement, StageKind::Fusion, StageKind::Postprocess})
    for (const auto& [name, p] : catalog.plugins())
      if (p.descriptor.kind == kind) print_plugin(p, args.has("--verbose"));
  std::cout << catalog.plugins().size() << " plugins\n";
  return 0;
}

}  // namespace

Command plugins_command() {
  CommandSpec spec;
  spec.name = "plugins";
  spec.summary = "list the plugins with their kind, ports and parameter docs";
  spec.usage = "[NAME] [--plugin-dir DIR] [--verbose]";
  spec.max_positionals = 1;
  spec.options = {{"--plugin-dir", "DIR", "also load plugins from DIR (repeatable)", true},
                  {"--verbose", "", "show each plugin's library file", false}};
  return {spec, run_plugins};
}

}  // namespace ovseg::cli
