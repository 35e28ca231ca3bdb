// Non-template parts of <ovseg/sdk/plugin.hpp>, shared by host and plugins.
#include <filesystem>
#include <map>
#include <sstream>

#include "ovseg/sdk/plugin.hpp"
#include "ovseg/sdk/stage_capabilities.hpp"

namespace ovseg {

const char* to_string(StageKind kind) {
  switch (kind) {
    case StageKind::Encoder: return "encoder";
    case StageKind::Refinement: return "refinement";
    case StageKind::Fusion: return "fusion";
    case StageKind::Postprocess: return "postprocess";
  }
  return "?";
}

const char* to_string(PortType type) {
  switch (type) {
    case PortType::Image: return "Image";
    case PortType::Tokens: return "Tokens";
    case PortType::FeatureMap: return "FeatureMap";
    case PortType::TextEmbeddings: return "TextEmbeddings";
    case PortType::Logits: return "Logits";
    case PortType::LabelMap: return "LabelMap";
    case PortType::Model: return "Model";
    case PortType::Prompts: return "Prompts";
    case PortType::Masks: return "Masks";
  }
  return "?";
}

const char* to_string(ParamType type) {
  switch (type) {
    case ParamType::Bool: return "bool";
    case ParamType::Int: return "int";
    case ParamType::Float: return "float";
    case ParamType::String: return "string";
    case ParamType::IntList: return "int list";
    case ParamType::FloatList: return "float list";
    case ParamType::StringList: return "string list";
  }
  return "?";
}

std::optional<StageKind> stage_kind_from_string(const std::string& s) {
  for (StageKind k : {StageKind::Encoder, StageKind::Refinement, StageKind::Fusion, StageKind::Postprocess})
    if (s == to_string(k)) return k;
  return std::nullopt;
}

ParamType param_type_of(const ParamValue& v) {
  // ParamValue's alternatives are declared in ParamType order.
  return static_cast<ParamType>(v.index());
}

namespace {
std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}
std::string format_double(double d) {
  std::ostringstream os;
  os.precision(10);
  os << d;
  std::string s = os.str();
  // Keep floats recognisable as floats in TOML.
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}
template <class T, class F>
std::string format_list(const std::vector<T>& xs, F fmt) {
  std::string out = "[";
  for (size_t i = 0; i < xs.size(); ++i) out += (i ? ", " : "") + fmt(xs[i]);
  return out + "]";
}
}  // namespace

std::string format_param_value(const ParamValue& v) {
  struct Visitor {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return format_double(d); }
    std::string operator()(const std::string& s) const { return quote(s); }
    std::string operator()(const std::vector<int64_t>& xs) const {
      return format_list(xs, [](int64_t i) { return std::to_string(i); });
    }
    std::string operator()(const std::vector<double>& xs) const { return format_list(xs, format_double); }
    std::string operator()(const std::vector<std::string>& xs) const { return format_list(xs, quote); }
  };
  return std::visit(Visitor{}, v);
}

std::string format_param_range(const ParamSpec& spec) {
  const bool integral = spec.type == ParamType::Int || spec.type == ParamType::IntList;
  auto bound = [&](const std::optional<double>& b, const char* inf) -> std::string {
    if (!b) return inf;
    return integral ? std::to_string(static_cast<int64_t>(*b)) : format_double(*b);
  };
  return "[" + bound(spec.min, "-inf") + ", " + bound(spec.max, "inf") + "]";
}

std::string StageInit::resolve_path(const std::string& path) const {
  namespace fs = std::filesystem;
  if (path.empty() || fs::path(path).is_absolute() || pipeline_dir.empty()) return path;
  return (fs::path(pipeline_dir) / path).lexically_normal().string();
}

namespace {
PluginDescriptor& add_param(PluginDescriptor& d, std::string n, ParamValue def, std::string doc) {
  ParamSpec spec;
  spec.name = std::move(n);
  spec.type = param_type_of(def);
  spec.default_value = std::move(def);
  spec.doc = std::move(doc);
  d.params.push_back(std::move(spec));
  return d;
}
}  // namespace

PluginDescriptor& PluginDescriptor::param(std::string n, bool def, std::string doc) {
  return add_param(*this, std::move(n), def, std::move(doc));
}
PluginDescriptor& PluginDescriptor::param(std::string n, int def, std::string doc) {
  return add_param(*this, std::move(n), static_cast<int64_t>(def), std::move(doc));
}
PluginDescriptor& PluginDescriptor::param(std::string n, int64_t def, std::string doc) {
  return add_param(*this, std::move(n), def, std::move(doc));
}
PluginDescriptor& PluginDescriptor::param(std::string n, double def, std::string doc) {
  return add_param(*this, std::move(n), def, std::move(doc));
}
PluginDescriptor& PluginDescriptor::param(std::string n, const char* def, std::string doc) {
  return add_param(*this, std::move(n), std::string(def), std::move(doc));
}
PluginDescriptor& PluginDescriptor::param(std::string n, std::string def, std::string doc) {
  return add_param(*this, std::move(n), std::move(def), std::move(doc));
}
PluginDescriptor& PluginDescriptor::param(std::string n, std::vector<int64_t> def, std::string doc) {
  return add_param(*this, std::move(n), std::move(def), std::move(doc));
}
PluginDescriptor& PluginDescriptor::param(std::string n, std::vector<double> def, std::string doc) {
  return add_param(*this, std::move(n), std::move(def), std::move(doc));
}
PluginDescriptor& PluginDescriptor::param(std::string n, std::vector<std::string> def, std::string doc) {
  return add_param(*this, std::move(n), std::move(def), std::move(doc));
}

PluginDescriptor& PluginDescriptor::range(std::optional<double> lo, std::optional<double> hi) {
  if (params.empty()) throw std::logic_error("range() before any param() in " + name);
  const ParamType t = params.back().type;
  if (t != ParamType::Int && t != ParamType::Float && t != ParamType::IntList && t != ParamType::FloatList)
    throw std::logic_error("plugin '" + name + "': range() on parameter '" + params.back().name + "' of type " +
                           to_string(t) + "; ranges apply to int, float and their lists");
  params.back().min = lo;
  params.back().max = hi;
  return *this;
}

PluginDescriptor& PluginDescriptor::choices(std::vector<std::string> allowed) {
  if (params.empty()) throw std::logic_error("choices() before any param() in " + name);
  const ParamType t = params.back().type;
  if (t != ParamType::String && t != ParamType::StringList)
    throw std::logic_error("plugin '" + name + "': choices() on parameter '" + params.back().name + "' of type " +
                           to_string(t) + "; choices apply to string and string list");
  params.back().choices = std::move(allowed);
  return *this;
}

namespace {

std::map<std::string, StageCapabilities>& capability_table() {
  static std::map<std::string, StageCapabilities> table;
  return table;
}

}  // namespace

StageCapabilities& StageCapabilities::labels_by_protocol(std::string logits_input) {
  labelled_by_protocol = std::move(logits_input);
  return *this;
}
StageCapabilities& StageCapabilities::classwise(std::string logits_input) {
  classwise_input = std::move(logits_input);
  return *this;
}
StageCapabilities& StageCapabilities::couples_batch() {
  batch_coupled = true;
  return *this;
}
StageCapabilities& StageCapabilities::alias_of_protocol_knob(std::string param, std::string knob) {
  protocol_knob_aliases[std::move(param)] = std::move(knob);
  return *this;
}

StageCapabilities& StageCapabilities::full_precision() {
  precision = PrecisionPolicy::Full;
  return *this;
}
StageCapabilities& StageCapabilities::reduced_precision() {
  precision = PrecisionPolicy::Reduced;
  return *this;
}

StageCapabilities& declare_capabilities(const PluginDescriptor& d) { return capability_table()[d.name]; }

StageCapabilities capabilities_of(const std::string& plugin) {
  const auto it = capability_table().find(plugin);
  return it == capability_table().end() ? StageCapabilities{} : it->second;
}

const ParamSpec* PluginDescriptor::find_param(const std::string& n) const {
  for (const auto& p : params)
    if (p.name == n) return &p;
  return nullptr;
}
const PortSpec* PluginDescriptor::find_input(const std::string& n) const {
  for (const auto& p : inputs)
    if (p.name == n) return &p;
  return nullptr;
}
const PortSpec* PluginDescriptor::find_output(const std::string& n) const {
  for (const auto& p : outputs)
    if (p.name == n) return &p;
  return nullptr;
}
const LossSpec* PluginDescriptor::find_loss(const std::string& n) const {
  for (const auto& l : losses)
    if (l.name == n) return &l;
  return nullptr;
}

}  // namespace ovseg
