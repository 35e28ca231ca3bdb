// The ovseg subcommands. Each lives in its own cmd_*.cpp and registers here.
#pragma once

#include <string>
#include <vector>

#include "cli_args.hpp"

namespace ovseg {
class PluginCatalog;
struct PipelineSpec;
struct Override;
}  // namespace ovseg

namespace ovseg::cli {

struct Command {
  CommandSpec spec;
  int (*run)(const ParsedArgs& args);
};

const std::vector<Command>& all_commands();

Command plugins_command();
Command check_command();
Command run_command();
Command models_command();
Command fetch_model_command();
Command tokenize_command();
Command encode_command();
Command random_clip_command();
Command sweep_command();
Command eval_command();
Command merge_command();
Command table_command();
Command world_command();
Command train_clip_command();
Command demo_command();
Command train_command();
Command params_command();
Command sam_command();
Command random_sam_command();
Command train_sam_command();
Command eval_sam_command();
Command new_plugin_command();

// The demo's SAM part (demo_sam.cpp): the embedded world SAM on the demo's
// val scenes in WORLD_ROOT; prints its single-click table and returns the
// report's HTML section ("" when the model is missing).
std::string demo_sam_section(const std::string& world_root, const std::string& device);

// Shared by the commands that take a pipeline: discovers plugins (printing
// load problems as warnings) and loads the pipeline with its --set values.
PluginCatalog load_catalog(const ParsedArgs& args);
PipelineSpec load_spec(const std::string& path, const ParsedArgs& args);
// --set values and, with --weights FILE, `weights = FILE` on every node of
// the pipeline at `path` that the file holds (an error for a node it lacks).
std::vector<Override> command_line_overrides(const std::string& path, const ParsedArgs& args);

}  // namespace ovseg::cli
