// The light half of the plugin SDK: stage kinds, port types, parameter schema
// and the plugin descriptor. No LibTorch here, so the host's graph builder,
// validator and CLI compile fast; tensors live in <ovseg/sdk/stage.hpp>.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace ovseg {

// Bump whenever anything a plugin and the host exchange changes layout:
// PluginDescriptor, Params, the port payloads, StageContext, Stage.
// The host refuses a plugin built against another version (never a crash).
// 4: ModelHandle is typed (ModelHandle::of / get<T>); Params knows its node.
inline constexpr int kSdkAbiVersion = 4;

enum class StageKind { Encoder, Refinement, Fusion, Postprocess };

// Typed ports let a graph be checked before any tensor moves.
enum class PortType {
  Image,           // (B,3,H,W) float32 RGB in [0,1]
  Tokens,          // (B,N,C) with a patch grid, optional leading CLS token
  FeatureMap,      // (B,C,h,w) dense features
  TextEmbeddings,  // (K,C) class embeddings + class names
  Logits,          // (B,K,H,W) class scores + class names
  LabelMap,        // (B,H,W) int64 class indices + class names
  Model,           // opaque model handle shared between stages
  Prompts,         // SAM-style prompts per image: points + labels, boxes, mask inputs
  Masks,           // (B,N,H,W) mask logits + per-mask scores (proposals, SAM outputs)
};

enum class ParamType { Bool, Int, Float, String, IntList, FloatList, StringList };

using ParamValue = std::variant<bool, int64_t, double, std::string, std::vector<int64_t>, std::vector<double>,
                                std::vector<std::string>>;

const char* to_string(StageKind kind);
const char* to_string(PortType type);
const char* to_string(ParamType type);
std::optional<StageKind> stage_kind_from_string(const std::string& s);
ParamType param_type_of(const ParamValue& v);
std::string format_param_value(const ParamValue& v);  // TOML-like text
struct ParamSpec;
std::string format_param_range(const ParamSpec& spec);  // "[0, 64]", "[0.5, inf]"

struct PortSpec {
  std::string name;
  PortType type;
  std::string doc;
  bool optional = false;
};

// An auxiliary loss a stage emits while training (StageContext::add_loss),
// weighted by the pipeline's [train.losses] table as "node.name".
struct LossSpec {
  std::string name;
  std::string doc;
};

struct ParamSpec {
  std::string name;
  ParamType type;
  ParamValue default_value;
  std::string doc;
  std::vector<std::string> choices;  // for String and StringList params (each element); empty = free text
  std::optional<double> min, max;    // for numeric params (and list elements)
};

// Parameter values after validation: every declared parameter is present
// (defaults filled in) and has its declared type. Errors name the node.
class Params {
 public:
  Params() = default;
  explicit Params(std::map<std::string, ParamValue> values, std::string node_id = "")
      : values_(std::move(values)), node_id_(std::move(node_id)) {}

  template <class T>
  const T& get(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) throw std::out_of_range(where() + "parameter '" + name + "' was not declared");
    if (const T* v = std::get_if<T>(&it->second)) return *v;
    throw std::invalid_argument(where() + "parameter '" + name + "' is a " + to_string(param_type_of(it->second)) +
                                ", read as a " + to_string(param_type_of(ParamValue(T{}))));
  }
  bool get_bool(const std::string& n) const { return get<bool>(n); }
  int64_t get_int(const std::string& n) const { return get<int64_t>(n); }
  double get_float(const std::string& n) const { return get<double>(n); }
  const std::string& get_string(const std::string& n) const { return get<std::string>(n); }
  const std::vector<int64_t>& get_int_list(const std::string& n) const { return get<std::vector<int64_t>>(n); }
  const std::vector<double>& get_float_list(const std::string& n) const { return get<std::vector<double>>(n); }
  const std::vector<std::string>& get_string_list(const std::string& n) const {
    return get<std::vector<std::string>>(n);
  }
  bool has(const std::string& n) const { return values_.count(n) != 0; }
  const std::map<std::string, ParamValue>& all() const { return values_; }
  // The node these values belong to ("" when built outside a graph).
  const std::string& node_id() const { return node_id_; }

 private:
  std::string where() const { return node_id_.empty() ? std::string() : "node '" + node_id_ + "': "; }
  std::map<std::string, ParamValue> values_;
  std::string node_id_;
};

// What the host hands a plugin's constructor.
struct StageInit {
  std::string node_id;       // the node's id in the pipeline graph
  Params params;             // validated, defaults filled in
  std::string device;        // "cpu", "cuda", "cuda:1"
  std::string pipeline_dir;  // folder of the pipeline TOML: resolve relative paths here
  // The classes of the data set the host evaluates or trains on (one entry
  // per class, its synonyms, first = display name), in label order; in a
  // zero-shot training run only the seen classes. Empty outside eval/train
  // (`ovseg run`). Text stages use it when the pipeline names no classes.
  std::vector<std::vector<std::string>> vocabulary;
  // The zero-shot split the host trains or evaluates under: display names of
  // the unseen classes (while training they are absent from `vocabulary`).
  // Empty without a split and outside eval/train. A stage that reads it says
  // so with PluginDescriptor::reads_zero_shot_split().
  std::vector<std::string> unseen_classes;
  std::string resolve_path(const std::string& path) const;
};

class Stage;  // defined in <ovseg/sdk/stage.hpp>
using StageFactory = std::function<std::unique_ptr<Stage>(const StageInit&)>;

// Everything the host knows about a plugin before running it. Built with a
// fluent interface in the plugin's describe() function.
struct PluginDescriptor {
  std::string name;
  StageKind kind = StageKind::Encoder;
  std::string summary;
  std::vector<PortSpec> inputs;
  std::vector<PortSpec> outputs;
  std::vector<ParamSpec> params;
  std::vector<LossSpec> losses;  // auxiliary losses emitted in training
  // The stage's output depends on StageInit::unseen_classes (e.g. seen-class
  // score calibration): an eval record is then keyed by the split as well,
  // and a stored record of another split is not reused.
  bool zero_shot_split = false;
  StageFactory create;

  PluginDescriptor() = default;
  PluginDescriptor(std::string n, StageKind k, std::string s) : name(std::move(n)), kind(k), summary(std::move(s)) {}

  PluginDescriptor& input(std::string n, PortType t, std::string doc, bool optional = false) {
    inputs.push_back({std::move(n), t, std::move(doc), optional});
    return *this;
  }
  PluginDescriptor& output(std::string n, PortType t, std::string doc) {
    outputs.push_back({std::move(n), t, std::move(doc), false});
    return *this;
  }
  // Declares an auxiliary loss the stage adds in training (e.g. distillation).
  PluginDescriptor& loss(std::string n, std::string doc) {
    losses.push_back({std::move(n), std::move(doc)});
    return *this;
  }
  // Declares that the stage reads StageInit::unseen_classes.
  PluginDescriptor& reads_zero_shot_split() {
    zero_shot_split = true;
    return *this;
  }
  // Typed overloads so `param("sigma", 5.0, "...")` infers ParamType::Float.
  PluginDescriptor& param(std::string n, bool def, std::string doc);
  PluginDescriptor& param(std::string n, int def, std::string doc);
  PluginDescriptor& param(std::string n, int64_t def, std::string doc);
  PluginDescriptor& param(std::string n, double def, std::string doc);
  PluginDescriptor& param(std::string n, const char* def, std::string doc);
  PluginDescriptor& param(std::string n, std::string def, std::string doc);
  PluginDescriptor& param(std::string n, std::vector<int64_t> def, std::string doc);
  PluginDescriptor& param(std::string n, std::vector<double> def, std::string doc);
  PluginDescriptor& param(std::string n, std::vector<std::string> def, std::string doc);
  // Restrict the most recently added parameter: range() a numeric one or a
  // numeric list (each element), choices() a String or StringList (each
  // element). Either on another type throws std::logic_error when the plugin
  // describes itself, naming the plugin and the parameter.
  PluginDescriptor& range(std::optional<double> lo, std::optional<double> hi);
  PluginDescriptor& choices(std::vector<std::string> allowed);

  const ParamSpec* find_param(const std::string& n) const;
  const PortSpec* find_input(const std::string& n) const;
  const PortSpec* find_output(const std::string& n) const;
  const LossSpec* find_loss(const std::string& n) const;
};

namespace detail {
// The plugins a shared library registers; filled by OVSEG_REGISTER_PLUGIN at
// load time, read by the host through the exported entry point.
std::vector<PluginDescriptor>& plugin_registry();
bool register_plugin(PluginDescriptor d);
}  // namespace detail

}  // namespace ovseg

#define OVSEG_DETAIL_CONCAT2(a, b) a##b
#define OVSEG_DETAIL_CONCAT(a, b) OVSEG_DETAIL_CONCAT2(a, b)

// Registers a Stage subclass that has `static PluginDescriptor describe()` and
// a constructor taking `const ovseg::StageInit&`. One line per plugin:
//   OVSEG_REGISTER_PLUGIN(MyStage)
#define OVSEG_REGISTER_PLUGIN(StageClass)                                                                           \
  static const bool OVSEG_DETAIL_CONCAT(ovseg_registered_plugin_, __LINE__) = ::ovseg::detail::register_plugin([] { \
    ::ovseg::PluginDescriptor d = StageClass::describe();                                                           \
    d.create = [](const ::ovseg::StageInit& init) -> std::unique_ptr<::ovseg::Stage> {                              \
      return std::make_unique<StageClass>(init);                                                                    \
    };                                                                                                              \
    return d;                                                                                                       \
  }())
