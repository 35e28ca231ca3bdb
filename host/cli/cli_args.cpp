#include "cli_args.hpp"

#include <cmath>
#include <sstream>

#include "ovseg/sdk/diagnostics.hpp"

namespace ovseg::cli {

std::string ParsedArgs::get(const std::string& name, const std::string& fallback) const {
  auto it = values.find(name);
  return it == values.end() || it->second.empty() ? fallback : it->second.back();
}

std::vector<std::string> ParsedArgs::all(const std::string& name) const {
  auto it = values.find(name);
  return it == values.end() ? std::vector<std::string>{} : it->second;
}

std::vector<OptionSpec> pipeline_options() {
  return {
      {"--set", "nodes.X.param=VALUE", "override a value before validation (repeatable)", true},
      {"--unset", "nodes.X.param", "delete a key (or table) before the --set values (repeatable)", true},
      {"--plugin-dir", "DIR", "also load plugins from DIR (repeatable; before OVSEG_PLUGIN_PATH)", true},
      {"--device", "DEV", "cpu, cuda or cuda:N (default: cuda when a GPU is visible, else cpu)", false},
      {"--weights", "FILE", "trained weights (`ovseg train`'s weights.safetensors): each node it holds loads them",
       false},
  };
}

OptionSpec precision_option() {
  return {"--precision", "P",
          "fp32 (default), bf16 or fp16: encoders and refinements under autocast, outputs and postprocessing "
          "float32 (fp16: CUDA only with LibTorch 1.x)",
          false};
}

Precision precision_arg(const std::string& command, const ParsedArgs& args) {
  try {
    return parse_precision(args.get("--precision", "fp32"));
  } catch (const std::invalid_argument& e) {
    throw UsageError("ovseg " + command + ": " + e.what());
  }
}

ParsedArgs parse_args(const CommandSpec& spec, const std::vector<std::string>& args) {
  ParsedArgs out;
  std::vector<std::string> names = {"--help"};
  for (const auto& o : spec.options) names.push_back(o.name);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "--help" || arg == "-h") {
      out.values["--help"].push_back("");
      continue;
    }
    if (arg.size() > 1 && arg[0] == '-' && !(arg.size() > 1 && std::isdigit(static_cast<unsigned char>(arg[1])))) {
      std::string value;
      bool inline_value = false;
      if (auto eq = arg.find('='); eq != std::string::npos && arg.rfind("--", 0) == 0) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        inline_value = true;
      }
      const OptionSpec* opt = nullptr;
      for (const auto& o : spec.options)
        if (o.name == arg) opt = &o;
      if (opt == nullptr)
        throw UsageError("ovseg " + spec.name + ": unknown option '" + arg + "'" + did_you_mean(arg, names) +
                         " (see ovseg " + spec.name + " --help)");
      if (opt->metavar.empty()) {
        if (inline_value) throw UsageError("ovseg " + spec.name + ": " + arg + " takes no value");
        out.values[arg].push_back("");
        continue;
      }
      if (!inline_value) {
        if (i + 1 >= args.size())
          throw UsageError("ovseg " + spec.name + ": " + arg + " needs a value (" + opt->metavar + ")");
        value = args[++i];
      }
      if (!opt->repeatable && out.has(arg)) throw UsageError("ovseg " + spec.name + ": " + arg + " given twice");
      out.values[arg].push_back(value);
      continue;
    }
    out.positionals.push_back(arg);
  }
  if (out.has("--help")) return out;
  if (out.positionals.size() < spec.min_positionals)
    throw UsageError("ovseg " + spec.name + ": missing argument; usage: ovseg " + spec.name + " " + spec.usage);
  if (out.positionals.size() > spec.max_positionals)
    throw UsageError("ovseg " + spec.name + ": unexpected argument '" + out.positionals[spec.max_positionals] +
                     "'; usage: ovseg " + spec.name + " " + spec.usage);
  return out;
}

long parse_count(const std::string& command, const std::string& option, const std::string& text) {
  try {
    size_t used = 0;
    const long v = std::stol(text, &used);
    if (used == text.size() && v >= 0) return v;
  } catch (const std::exception&) {
  }
  throw UsageError("ovseg " + command + ": " + option + " '" + text + "' is not a non-negative integer");
}

double parse_real(const std::string& command, const std::string& option, const std::string& text) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size() && std::isfinite(v) && v >= 0) return v;
  } catch (const std::exception&) {
  }
  throw UsageError("ovseg " + command + ": " + option + " '" + text + "' is not a non-negative number");
}

std::string help_text(const CommandSpec& spec) {
  std::ostringstream os;
  os << "usage: ovseg " << spec.name << " " << spec.usage << "\n\n" << spec.summary << "\n";
  if (!spec.details.empty()) os << "\n" << spec.details << "\n";
  os << "\noptions:\n";
  auto line = [&](const std::string& left, const std::string& help) {
    os << "  " << left;
    if (left.size() < 30)
      os << std::string(30 - left.size(), ' ');
    else
      os << "\n  " << std::string(30, ' ');
    os << help << "\n";
  };
  for (const auto& o : spec.options) line(o.name + (o.metavar.empty() ? "" : " " + o.metavar), o.help);
  line("-h, --help", "show this help");
  return os.str();
}

namespace {
std::string shell_quoted(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=./,:@%") ==
                        std::string::npos)
    return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}
}  // namespace

std::string command_text(const std::string& name, const ParsedArgs& args) {
  std::string line = "ovseg " + name;
  for (const auto& p : args.positionals) line += " " + shell_quoted(p);
  for (const auto& [option, values] : args.values)
    for (const auto& v : values) line += " " + option + (v.empty() ? "" : " " + shell_quoted(v));
  return line;
}

std::vector<OptionSpec> resumable_training_options() {
  return {{"--checkpoint-dir", "DIR", "save trainer state here; an interrupted run resumes from it", false},
          {"--checkpoint-every", "N", "steps between checkpoints (default 200)", false},
          {"--no-resume", "", "ignore an existing checkpoint in --checkpoint-dir", false},
          {"--force", "",
           "train from scratch even when --checkpoint-dir holds a checkpoint of other settings (it is replaced)",
           false},
          {"--threads", "N", "ATen intra-op threads (default: the runtime's)", false}};
}

}  // namespace ovseg::cli
