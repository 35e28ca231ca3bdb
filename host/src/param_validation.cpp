// The one validation of a node's parameters against its plugin's schema,
// shared by build_graph (values from TOML, errors at file:line:column) and
// create_stage (values from code): unknown names (nearest suggested), types
// (lossless coercions only), ranges and allowed choices.
#include "ovseg/host/param_validation.hpp"

#include <algorithm>
#include <cmath>

#include "ovseg/sdk/diagnostics.hpp"

namespace ovseg {

namespace {

std::vector<std::string> port_names(const std::vector<PortSpec>& ports) {
  std::vector<std::string> out;
  for (const auto& p : ports) out.push_back(p.name);
  return out;
}

std::string join(const std::vector<std::string>& xs, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < xs.size(); ++i) out += (i ? sep : "") + xs[i];
  return out;
}

// Converts a parsed value to the declared type where that loses nothing
// (int -> float, int list -> float list, [] -> any list).
ParamValue coerce(const SpecValue& given, const ParamSpec& spec, const std::string& node) {
  const ParamType have = param_type_of(given.value);
  if (have == spec.type) return given.value;
  if (spec.type == ParamType::Float && have == ParamType::Int)
    return static_cast<double>(std::get<int64_t>(given.value));
  if (spec.type == ParamType::FloatList && have == ParamType::IntList) {
    const auto& xs = std::get<std::vector<int64_t>>(given.value);
    return std::vector<double>(xs.begin(), xs.end());
  }
  if (given.empty_list) {
    if (spec.type == ParamType::FloatList) return std::vector<double>{};
    if (spec.type == ParamType::StringList) return std::vector<std::string>{};
  }
  throw Error(given.where, node,
              "parameter '" + spec.name + "' expects " + to_string(spec.type) + ", got " + to_string(have) + " " +
                  format_param_value(given.value),
              "write it like " + spec.name + " = " + format_param_value(spec.default_value));
}

void check_limits(const ParamValue& v, const ParamSpec& spec, const SourceLocation& where, const std::string& node) {
  if (!spec.choices.empty()) {
    // A String, or each element of a StringList.
    std::vector<std::string> strings;
    if (auto s = std::get_if<std::string>(&v)) strings.push_back(*s);
    if (auto ss = std::get_if<std::vector<std::string>>(&v)) strings = *ss;
    const bool list = std::holds_alternative<std::vector<std::string>>(v);
    for (const std::string& s : strings)
      if (std::find(spec.choices.begin(), spec.choices.end(), s) == spec.choices.end())
        throw Error(where, node,
                    "parameter '" + spec.name + "'" + (list ? " lists" : " is") + " \"" + s + "\", not one of " +
                        join(spec.choices, ", ") + did_you_mean(s, spec.choices),
                    std::string(list ? "list only: " : "pick one of: ") + join(spec.choices, ", "));
  }
  if (!spec.min && !spec.max) return;
  std::vector<double> numbers;
  if (auto i = std::get_if<int64_t>(&v)) numbers.push_back(static_cast<double>(*i));
  if (auto d = std::get_if<double>(&v)) numbers.push_back(*d);
  if (auto is = std::get_if<std::vector<int64_t>>(&v)) numbers.assign(is->begin(), is->end());
  if (auto ds = std::get_if<std::vector<double>>(&v)) numbers = *ds;
  for (double x : numbers) {
    if ((spec.min && x < *spec.min) || (spec.max && x > *spec.max) || std::isnan(x)) {
      const std::string range = format_param_range(spec);
      throw Error(where, node, "parameter '" + spec.name + "' = " + format_param_value(v) + " is outside " + range,
                  "use a value in " + range);
    }
  }
}

}  // namespace

Params validate_params(const PluginDescriptor& d, const std::map<std::string, SpecValue>& given_params,
                       const std::string& node_id) {
  std::map<std::string, ParamValue> values;
  for (const auto& spec : d.params) values[spec.name] = spec.default_value;
  for (const auto& [name, given] : given_params) {
    const ParamSpec* spec = d.find_param(name);
    if (spec == nullptr) {
      std::vector<std::string> known = port_names(d.inputs);
      std::vector<std::string> param_names;
      for (const auto& p : d.params) param_names.push_back(p.name);
      std::string hint = did_you_mean(name, param_names);
      std::string fix = param_names.empty() ? "plugin '" + d.name + "' takes no parameters; remove it"
                                            : "known parameters: " + join(param_names, ", ");
      if (hint.empty() && std::find(known.begin(), known.end(), name) != known.end())
        fix = "'" + name + "' is an input port: wire it in inputs = { " + name + " = \"node.port\" }";
      throw Error(given.where, node_id, "unknown parameter '" + name + "' for plugin '" + d.name + "'" + hint, fix);
    }
    ParamValue v = coerce(given, *spec, node_id);
    check_limits(v, *spec, given.where, node_id);
    values[name] = std::move(v);
  }
  return Params(std::move(values), node_id);
}

}  // namespace ovseg
