// ovseg: the command-line front of the workbench.
#include <iostream>

#include "commands.hpp"
#include "ovseg/sdk/diagnostics.hpp"
#include "ovseg/sdk/runtime.hpp"
#include "ovseg/host/pipeline_spec.hpp"
#include "ovseg/host/plugin_loader.hpp"
#include "ovseg/host/stage_weights.hpp"

#include <algorithm>
#include <filesystem>

namespace ovseg::cli {

const std::vector<Command>& all_commands() {
  static const std::vector<Command> commands = {demo_command(),        plugins_command(),   check_command(),
                                                run_command(),         eval_command(),      sweep_command(),
                                                merge_command(),       table_command(),     models_command(),
                                                fetch_model_command(), tokenize_command(),  encode_command(),
                                                random_clip_command(), world_command(),     train_clip_command(),
                                                train_command(),       params_command(),    sam_command(),
                                                random_sam_command(),  train_sam_command(), eval_sam_command(),
                                                new_plugin_command()};
  return commands;
}

PluginCatalog load_catalog(const ParsedArgs& args) {
  PluginCatalog catalog = discover_plugins(args.all("--plugin-dir"));
  for (const auto& p : catalog.problems()) std::cerr << "warning: " << p.message << "\n";
  return catalog;
}

std::vector<Override> command_line_overrides(const std::string& path, const ParsedArgs& args) {
  std::vector<Override> overrides;
  for (const auto& s : args.all("--unset")) overrides.push_back(parse_unset(s));
  for (const auto& s : args.all("--set")) overrides.push_back(parse_override(s));
  if (args.has("--weights")) {
    // Each node the weights file holds gets weights = FILE (absolute, so the
    // results key and record name the file whatever the working folder).
    const std::string file = std::filesystem::absolute(args.get("--weights")).string();
    const PipelineSpec plain = load_pipeline_spec(path, overrides, args.get("--dataset", ""));
    for (const auto& node : weights_file_nodes(file)) {
      const bool known = std::any_of(plain.nodes.begin(), plain.nodes.end(),
                                     [&](const NodeSpec& n) { return n.id == node; });
      if (!known)
        throw Error({file, 0, 0}, node,
                    "the weights file holds node '" + node + "', which pipeline " + path + " does not have",
                    "use the pipeline the weights were trained with");
      std::string quoted = "\"";
      for (char c : file) quoted += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
      overrides.push_back(parse_override("nodes." + node + ".weights=" + quoted + "\""));
    }
  }
  return overrides;
}

PipelineSpec load_spec(const std::string& path, const ParsedArgs& args) {
  // Commands with --dataset (eval, check) apply the pipeline's settings for it.
  return load_pipeline_spec(path, command_line_overrides(path, args), args.get("--dataset", ""));
}

namespace {

void print_usage(std::ostream& os) {
  os << "usage: ovseg COMMAND [options]\n\n"
        "A workbench for open-vocabulary semantic segmentation: pipelines of plugins\n"
        "(encoder, refinement, fusion, postprocess) wired by TOML graphs.\n\ncommands:\n";
  for (const auto& c : all_commands())
    os << "  " << c.spec.name << std::string(c.spec.name.size() < 12 ? 12 - c.spec.name.size() : 1, ' ')
       << c.spec.summary << "\n";
  os << "\nRun `ovseg COMMAND --help` for a command's options.\n"
        "Plugins are searched in --plugin-dir, OVSEG_PLUGIN_PATH, then <bin>/../lib/ovseg/plugins.\n";
}

}  // namespace
}  // namespace ovseg::cli

int main(int argc, char** argv) {
  using namespace ovseg::cli;
  ovseg::init_process();  // allocator and threads: sdk/include/ovseg/sdk/runtime.hpp
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_usage(args.empty() ? std::cerr : std::cout);
    return args.empty() ? 2 : 0;
  }
  const std::string name = args[0];
  args.erase(args.begin());
  for (const auto& c : all_commands()) {
    if (c.spec.name != name) continue;
    try {
      ParsedArgs parsed = parse_args(c.spec, args);
      if (parsed.has("--help")) {
        std::cout << help_text(c.spec);
        return 0;
      }
      return c.run(parsed);
    } catch (const UsageError& e) {
      std::cerr << e.what() << "\n";
      return 2;
    } catch (const std::exception& e) {
      std::cerr << e.what() << "\n";
      return 1;
    }
  }
  std::vector<std::string> names;
  for (const auto& c : all_commands()) names.push_back(c.spec.name);
  std::cerr << "ovseg: unknown command '" << name << "'" << ovseg::did_you_mean(name, names) << " (see ovseg --help)\n";
  return 2;
}
