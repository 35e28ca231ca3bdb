// A small declarative argument parser: each command lists its options, and
// gets --help text and "did you mean" for typos for free.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "ovseg/host/precision.hpp"

namespace ovseg::cli {

struct OptionSpec {
  std::string name;     // "--device"
  std::string metavar;  // "DEV"; empty = a flag without value
  std::string help;
  bool repeatable = false;
};

struct CommandSpec {
  std::string name;
  std::string summary;
  std::string usage;  // after "ovseg NAME"
  std::vector<OptionSpec> options;
  size_t min_positionals = 0;
  size_t max_positionals = 0;
  std::string details;  // extra help paragraphs
};

class ParsedArgs {
 public:
  std::vector<std::string> positionals;
  std::map<std::string, std::vector<std::string>> values;

  bool has(const std::string& name) const { return values.count(name) != 0; }
  std::string get(const std::string& name, const std::string& fallback = "") const;
  std::vector<std::string> all(const std::string& name) const;
};

// A mistake on the command line (exit code 2).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The options every command that runs a pipeline shares.
std::vector<OptionSpec> pipeline_options();
// The resumable trainers' rows (train-clip, train-sam): --checkpoint-dir,
// --checkpoint-every, --no-resume, --force, --threads.
std::vector<OptionSpec> resumable_training_options();

// --precision fp32|bf16|fp16 (eval, sweep, run: the commands that infer).
OptionSpec precision_option();
// Its value ("fp32" when absent); a bad one is a UsageError naming the
// command, the value and the choices.
Precision precision_arg(const std::string& command, const ParsedArgs& args);

ParsedArgs parse_args(const CommandSpec& spec, const std::vector<std::string>& args);

// A non-negative integer option value; anything else is a UsageError naming
// the command and option ("ovseg eval: --limit 'abc' is not ...").
long parse_count(const std::string& command, const std::string& option, const std::string& text);
// A non-negative finite number (e.g. --lr 3e-4), same error style.
double parse_real(const std::string& command, const std::string& option, const std::string& text);
std::string help_text(const CommandSpec& spec);

// The command as a shell line ("ovseg eval a.toml --dataset world ..."):
// positionals, then options in name order, quoted where needed. For logs
// (an experiment folder's commands.txt), equivalent to what was typed.
std::string command_text(const std::string& name, const ParsedArgs& args);

}  // namespace ovseg::cli
