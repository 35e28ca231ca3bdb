// TOML -> PipelineSpec. Only syntax and shape are checked here; what the
// plugins accept is checked in graph.cpp, where the catalog is known.
#include "ovseg/host/pipeline_spec.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>
#include <toml++/toml.h>

#include "pipeline_document.hpp"

namespace ovseg {

using detail::LocationTracker;

namespace {

const std::vector<std::string> kTopLevelTables = {"pipeline", "protocol", "nodes", "outputs", "train", "vocabulary"};
const std::vector<std::string> kPipelineKeys = {"name", "description"};
const std::vector<std::string> kOutputKeys = {"logits", "labels"};

bool valid_identifier(const std::string& id) {
  if (id.empty() || !(std::isalpha(static_cast<unsigned char>(id[0])) || id[0] == '_')) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

SpecValue to_spec_value(const toml::node& n, const LocationTracker& loc, const std::string& node_id,
                        const std::string& key) {
  SpecValue out;
  out.where = loc.at(n);
  if (auto v = n.as_boolean())
    out.value = v->get();
  else if (auto v = n.as_integer())
    out.value = static_cast<int64_t>(v->get());
  else if (auto v = n.as_floating_point())
    out.value = v->get();
  else if (auto v = n.as_string())
    out.value = v->get();
  else if (auto arr = n.as_array()) {
    bool all_int = true, all_num = true, all_str = true;
    for (const auto& e : *arr) {
      all_int &= e.is_integer();
      all_num &= e.is_integer() || e.is_floating_point();
      all_str &= e.is_string();
    }
    if (arr->empty()) {
      out.value = std::vector<int64_t>{};
      out.empty_list = true;
    } else if (all_int) {
      std::vector<int64_t> xs;
      for (const auto& e : *arr) xs.push_back(e.as_integer()->get());
      out.value = std::move(xs);
    } else if (all_num) {
      std::vector<double> xs;
      for (const auto& e : *arr) xs.push_back(e.value<double>().value());
      out.value = std::move(xs);
    } else if (all_str) {
      std::vector<std::string> xs;
      for (const auto& e : *arr) xs.push_back(e.as_string()->get());
      out.value = std::move(xs);
    } else {
      throw Error(out.where, node_id, "parameter '" + key + "' mixes value types in one array",
                  "use an array of numbers or an array of strings");
    }
  } else {
    throw Error(out.where, node_id,
                "parameter '" + key + "' has an unsupported TOML type (tables and dates are not parameters)",
                "use a number, bool, string or array");
  }
  return out;
}

std::pair<std::string, std::string> split_ref(const std::string& text, const SourceLocation& where,
                                              const std::string& node_id, const std::string& what) {
  auto dot = text.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == text.size())
    throw Error(where, node_id, what + " '" + text + "' is not of the form node.port",
                "write it as \"<node id>.<output port>\", e.g. \"input.image\"");
  return {text.substr(0, dot), text.substr(dot + 1)};
}

// [train] as dotted keys with their locations: the recipe parser
// (train_recipe.cpp) validates names and types without seeing toml++.
void flatten_train(const toml::table& t, const std::string& prefix, const LocationTracker& loc,
                   std::map<std::string, SpecValue>& out) {
  for (const auto& [key, value] : t) {
    const std::string k = prefix + std::string(key.str());
    if (const auto* sub = value.as_table()) {
      flatten_train(*sub, k + ".", loc, out);
    } else if (const auto* arr = value.as_array(); arr && !arr->empty() && arr->get(0)->is_table()) {
      for (size_t i = 0; i < arr->size(); ++i) {
        const auto* entry = arr->get(i)->as_table();
        if (entry == nullptr)
          throw Error(loc.at(*arr->get(i)), "", "train." + k + " mixes tables and values",
                      "write every entry as [[train." + k + "]]");
        flatten_train(*entry, k + "." + std::to_string(i) + ".", loc, out);
      }
    } else {
      out[k] = to_spec_value(value, loc, "", "train." + k);
    }
  }
}

}  // namespace

namespace detail {
// Applies one --set to the parsed document, remembering the new node's origin.
void apply_override(toml::table& root, const Override& ov, LocationTracker& loc) {
  const SourceLocation where{"--set " + ov.original, 0, 0};
  if (ov.path.size() < 2)
    throw Error(where, "", "override path '" + ov.original + "' is too short",
                "use --set nodes.<node>.<param>=<value> or --set protocol.<knob>=<value>");
  toml::table* table = &root;
  for (size_t i = 0; i + 1 < ov.path.size(); ++i) {
    toml::node* child = table->get(ov.path[i]);
    if (child == nullptr || !child->is_table()) {
      std::vector<std::string> keys;
      for (const auto& [k, v] : *table)
        if (v.is_table()) keys.emplace_back(k.str());
      // [protocol] may be absent; a new node is added by naming its plugin
      // first (--set nodes.crf.plugin=densecrf, then its inputs and params).
      const bool new_node = i == 1 && ov.path[0] == "nodes" && ov.path.size() == 3 && ov.path[2] == "plugin";
      const bool creatable = (i == 0 && ov.path[0] == "protocol") || ov.path[0] == "train" || new_node;
      if (!creatable || child != nullptr)
        throw Error(where, i >= 1 ? ov.path[1] : "",
                    "override names '" + ov.path[i] + "', which is not a table in the pipeline" +
                        did_you_mean(ov.path[i], keys),
                    i == 1 && ov.path[0] == "nodes"
                        ? "check the node id with `ovseg check PIPELINE.toml`, or add a node with --set nodes." +
                              ov.path[1] + ".plugin=NAME first"
                        : "check the node id with `ovseg check PIPELINE.toml`");
      table->insert_or_assign(ov.path[i], toml::table{});
      child = table->get(ov.path[i]);
    }
    table = child->as_table();
  }
  toml::node_view<toml::node> value_node;
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + ov.value_text);
  } catch (const toml::parse_error&) {
    parsed = toml::table{};
    parsed.insert("v", ov.value_text);  // not TOML: a bare string
  }
  table->insert_or_assign(ov.path.back(), std::move(*parsed.get("v")));
  loc.overridden[table->get(ov.path.back())] = where.file;
}

}  // namespace detail

Override parse_unset(const std::string& text) {
  if (text.find('=') != std::string::npos)
    throw Error({"--unset " + text, 0, 0}, "", "--unset takes a key, not key=value",
                "write --unset nodes.<node>.<param> (--set changes a value)");
  Override ov = parse_override(text + "=0");
  ov.original = text;
  ov.value_text.clear();
  ov.unset = true;
  return ov;
}

Override parse_override(const std::string& text) {
  Override ov;
  ov.original = text;
  auto eq = text.find('=');
  if (eq == std::string::npos)
    throw Error({"--set " + text, 0, 0}, "", "override '" + text + "' has no '='",
                "write --set nodes.<node>.<param>=<value>");
  if (eq == 0)
    throw Error({"--set " + text, 0, 0}, "", "override '" + text + "' names no parameter before '='",
                "write --set nodes.<node>.<param>=<value>");
  std::string path = text.substr(0, eq);
  ov.value_text = text.substr(eq + 1);
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty())
      throw Error({"--set " + text, 0, 0}, "", "override path '" + path + "' has an empty part",
                  "write --set nodes.<node>.<param>=<value>");
    ov.path.push_back(part);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return ov;
}

PipelineSpec parse_pipeline_spec(const std::string& toml_text, const std::string& file_name,
                                 const std::vector<Override>& overrides, const std::string& dataset) {
  LocationTracker loc{file_name, {}, {}};
  detail::PipelineDocument doc = detail::resolve_pipeline_document(toml_text, file_name, overrides, dataset, loc);
  toml::table& root = doc.root;

  PipelineSpec spec;
  spec.file = file_name;
  spec.name = std::filesystem::path(file_name).stem().string();
  {
    std::ostringstream os;
    os << root;
    spec.resolved_toml = os.str();
  }
  spec.dataset_tables = doc.dataset_tables;
  spec.dataset = doc.dataset;
  spec.family_toml = doc.family_toml;
  spec.family_edits = doc.family_edits;
  spec.files = doc.files;

  for (const auto& [key, value] : root) {
    const std::string k(key.str());
    if (std::find(kTopLevelTables.begin(), kTopLevelTables.end(), k) == kTopLevelTables.end())
      throw Error(loc.at(value), "", "unknown top-level key '" + k + "'" + did_you_mean(k, kTopLevelTables),
                  "a pipeline has only [pipeline], [protocol], [nodes.<id>], [outputs], [train], [vocabulary] and "
                  "[datasets.<name>] tables, and base / unset keys");
    if (!value.is_table()) throw Error(loc.at(value), "", "'" + k + "' must be a table", "write it as [" + k + "]");
  }

  if (const auto* p = root["pipeline"].as_table()) {
    for (const auto& [key, value] : *p) {
      const std::string k(key.str());
      if (std::find(kPipelineKeys.begin(), kPipelineKeys.end(), k) == kPipelineKeys.end())
        throw Error(loc.at(value), "", "unknown key '" + k + "' in [pipeline]" + did_you_mean(k, kPipelineKeys),
                    "[pipeline] accepts name and description");
      if (!value.is_string()) throw Error(loc.at(value), "", "[pipeline] " + k + " must be a string", "quote it");
    }
    spec.name = p->get("name") ? p->get("name")->value<std::string>().value() : spec.name;
    spec.description = p->get("description") ? p->get("description")->value<std::string>().value() : "";
  }

  if (const auto* proto = root["protocol"].as_table())
    for (const auto& [key, value] : *proto)
      spec.protocol[std::string(key.str())] = to_spec_value(value, loc, "", "protocol." + std::string(key.str()));

  if (const auto* train = root["train"].as_table()) flatten_train(*train, "", loc, spec.train);

  const auto* nodes = root["nodes"].as_table();
  if (nodes == nullptr || nodes->empty())
    throw Error({file_name, 1, 1}, "", "the pipeline has no nodes",
                "add at least one [nodes.<id>] table with plugin = \"...\"");
  for (const auto& [key, value] : *nodes) {
    NodeSpec node;
    node.id = std::string(key.str());
    node.where = loc.at(value);
    if (!valid_identifier(node.id))
      throw Error(node.where, node.id, "node id '" + node.id + "' is not a valid identifier",
                  "use letters, digits, '_' and '-', starting with a letter");
    if (node.id == kInputNodeId)
      throw Error(node.where, node.id, "node id 'input' is reserved for the pipeline's inputs", "rename the node");
    const auto* table = value.as_table();
    if (table == nullptr)
      throw Error(node.where, node.id, "nodes." + node.id + " must be a table", "write it as [nodes." + node.id + "]");
    for (const auto& [pkey, pvalue] : *table) {
      const std::string k(pkey.str());
      if (k == "plugin") {
        node.plugin_where = loc.at(pvalue);
        if (!pvalue.is_string())
          throw Error(node.plugin_where, node.id, "plugin must be a string", "write plugin = \"name\"");
        node.plugin = pvalue.as_string()->get();
      } else if (k == "inputs") {
        const auto* in = pvalue.as_table();
        if (in == nullptr)
          throw Error(loc.at(pvalue), node.id, "inputs must be a table of port = \"node.port\"",
                      "write inputs = { image = \"input.image\" }");
        for (const auto& [ikey, ivalue] : *in) {
          InputRef ref;
          ref.port = std::string(ikey.str());
          ref.where = loc.at(ivalue);
          if (!ivalue.is_string())
            throw Error(ref.where, node.id, "input '" + ref.port + "' must be a string \"node.port\"",
                        "quote it, e.g. " + ref.port + " = \"input.image\"");
          std::tie(ref.source_node, ref.source_port) = split_ref(ivalue.as_string()->get(), ref.where, node.id,
                                                                 "input '" + ref.port + "'");
          node.inputs.push_back(std::move(ref));
        }
      } else if (k == "weights") {
        if (!pvalue.is_string())
          throw Error(loc.at(pvalue), node.id, "weights must be a string (a .safetensors file)",
                      "write weights = \"run/weights.safetensors\"");
        node.weights = to_spec_value(pvalue, loc, node.id, k);
      } else if (k == "trainable") {
        const auto* arr = pvalue.as_array();
        if (arr == nullptr || !std::all_of(arr->begin(), arr->end(), [](const toml::node& e) { return e.is_string(); }))
          throw Error(loc.at(pvalue), node.id, "trainable must be an array of name patterns",
                      "write trainable = [\"*.attn.q_proj_weight\"], or [] to freeze the node");
        node.trainable = to_spec_value(pvalue, loc, node.id, k);
        if (arr->empty()) node.trainable->value = std::vector<std::string>{};
      } else {
        node.params[k] = to_spec_value(pvalue, loc, node.id, k);
      }
    }
    if (node.plugin.empty())
      throw Error(node.where, node.id, "node has no plugin", "add plugin = \"<name>\" (see `ovseg plugins`)");
    spec.nodes.push_back(std::move(node));
  }
  // toml++ iterates tables in key order; restore the order of the file so
  // ties in the execution order follow what the author wrote.
  // Base files come first (a child's new nodes run after the skeleton's).
  std::stable_sort(spec.nodes.begin(), spec.nodes.end(), [&loc](const NodeSpec& a, const NodeSpec& b) {
    return std::make_tuple(loc.rank(a.where), a.where.line, a.where.column) <
           std::make_tuple(loc.rank(b.where), b.where.line, b.where.column);
  });

  if (const auto* vocab = root["vocabulary"].as_table()) {
    for (const auto& [key, value] : *vocab) {
      if (key.str() != "map")
        throw Error(loc.at(value), "", "unknown key '" + std::string(key.str()) + "' in [vocabulary]",
                    "[vocabulary] accepts map = { \"pipeline class\" = \"data-set class\" }");
      const auto* m = value.as_table();
      if (m == nullptr)
        throw Error(loc.at(value), "", "[vocabulary] map must be a table of \"pipeline class\" = \"data-set class\"",
                    "write map = { sky = \"background\" }");
      for (const auto& [from, to] : *m) {
        if (!to.is_string())
          throw Error(loc.at(to), "",
                      "[vocabulary] map: '" + std::string(from.str()) + "' must name a class (a string)",
                      "quote the data set's class name");
        spec.class_map[std::string(from.str())] = to.as_string()->get();
      }
    }
    spec.has_class_map = true;
  }

  if (const auto* outs = root["outputs"].as_table()) {
    for (const auto& [key, value] : *outs) {
      const std::string k(key.str());
      const SourceLocation where = loc.at(value);
      if (std::find(kOutputKeys.begin(), kOutputKeys.end(), k) == kOutputKeys.end())
        throw Error(where, "", "unknown output '" + k + "'" + did_you_mean(k, kOutputKeys),
                    "[outputs] accepts logits and labels");
      if (!value.is_string()) throw Error(where, "", "output '" + k + "' must be a string \"node.port\"", "quote it");
      OutputRef ref;
      ref.where = where;
      std::tie(ref.source_node, ref.source_port) = split_ref(value.as_string()->get(), where, "", "output '" + k + "'");
      spec.outputs[k] = ref;
    }
  }
  return spec;
}

PipelineSpec load_pipeline_spec(const std::string& path, const std::vector<Override>& overrides,
                                const std::string& dataset) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw Error({path, 0, 0}, "", "is a directory, not a pipeline file",
                "pass a pipeline .toml file (e.g. pipelines/<name>.toml)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error({path, 0, 0}, "", "cannot open pipeline file", "check the path");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_pipeline_spec(ss.str(), path, overrides, dataset);
}

}  // namespace ovseg
