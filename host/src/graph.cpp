// PipelineSpec + PluginCatalog -> validated, topologically sorted Graph.
#include "ovseg/host/graph.hpp"
#include "ovseg/host/param_validation.hpp"
#include "ovseg/sdk/stage_capabilities.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

namespace ovseg {

namespace {

const std::vector<PortSpec>& input_node_ports() {
  static const std::vector<PortSpec> ports = {
      {"image", PortType::Image, "the image being segmented, (B,3,H,W) RGB in [0,1]", false},
      {"labels", PortType::LabelMap, "ground truth (B,H,W), under ovseg train and eval only (ground_truth.hpp)", true},
      {"instances", PortType::Masks, "ground-truth instance masks with classes, under ovseg train and eval only",
       true}};
  return ports;
}

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

double knob_number(const SpecValue& v) {
  if (const auto* d = std::get_if<double>(&v.value)) return *d;
  if (const auto* i = std::get_if<int64_t>(&v.value)) return static_cast<double>(*i);
  return std::nan("");
}

// A deprecated parameter that spells a protocol knob
// (StageCapabilities::alias_of_protocol_knob, e.g. argmax's
// probability_threshold = protocol.prob_thd) sets that knob, so the knob has
// one home and the record's protocol (and the table's footnote) shows it.
void apply_protocol_knob_aliases(PipelineSpec& spec, const NodeSpec& n, const PluginDescriptor& d) {
  for (const auto& [param, knob] : capabilities_of(d.name).protocol_knob_aliases) {
    const auto it = n.params.find(param);
    if (it == n.params.end()) continue;
    const SpecValue& v = it->second;
    const auto set = spec.protocol.find(knob);
    if (set != spec.protocol.end() && knob_number(set->second) != 0 && knob_number(set->second) != knob_number(v))
      throw Error(v.where, n.id,
                  param + " = " + format_param_value(v.value) + " is the deprecated spelling of protocol." + knob +
                      ", which " + set->second.where.str() + " sets to " + format_param_value(set->second.value),
                  "remove " + param + " and set [protocol] " + knob + " only");
    std::cerr << "warning: " << v.where.str() << ": node '" << n.id << "': " << param
              << " is deprecated; it sets protocol." << knob << " = " << format_param_value(v.value)
              << " (write [protocol] " << knob << " = ..., or --set protocol." << knob << "=...)\n";
    spec.protocol[knob] = v;
  }
}

}  // namespace

std::string PortRef::str(const Graph& g) const {
  return (node < 0 ? std::string(kInputNodeId) : g.nodes[node].id) + "." + port;
}

int Graph::index_of(const std::string& id) const {
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].id == id) return static_cast<int>(i);
  return -1;
}

namespace {

// Where each node's inputs come from: port -> (source node id, source port).
using Wires = std::vector<std::map<std::string, std::pair<std::string, std::string>>>;

// Phase 1: every node's plugin exists (its parameters are validated beside).
const LoadedPlugin* find_plugin(const NodeSpec& n, const PluginCatalog& catalog) {
  const LoadedPlugin* plugin = catalog.find(n.plugin);
  if (plugin != nullptr) return plugin;
  auto near = nearest_names(n.plugin, catalog.names());
  std::string fix = catalog.plugins().empty()
                        ? "no plugins were found; searched " + join(catalog.searched_dirs(), ", ") +
                              " (set OVSEG_PLUGIN_PATH or --plugin-dir)"
                        : "run `ovseg plugins` to list the " + std::to_string(catalog.plugins().size()) +
                              " available plugins";
  for (const auto& problem : catalog.problems())
    if (problem.library_path.find(n.plugin) != std::string::npos)
      fix = "its library failed to load: " + problem.message;
  throw Error(n.plugin_where, n.id,
              "unknown plugin '" + n.plugin + "'" + (near.empty() ? "" : " (near: " + join(near, ", ") + ")"), fix);
}

// Phase 2: every wire names a real port of the right type, and every
// required input is connected.
Wires connect_inputs(const std::vector<NodeSpec>& specs, const std::vector<const LoadedPlugin*>& plugins,
                     const std::map<std::string, size_t>& spec_index, const std::vector<std::string>& ids) {
  Wires wires(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const NodeSpec& n = specs[i];
    const PluginDescriptor& d = plugins[i]->descriptor;
    for (const auto& ref : n.inputs) {
      const PortSpec* in = d.find_input(ref.port);
      if (in == nullptr)
        throw Error(ref.where, n.id,
                    "plugin '" + d.name + "' has no input port '" + ref.port + "'" +
                        did_you_mean(ref.port, port_names(d.inputs)),
                    d.inputs.empty() ? "remove the inputs table"
                                     : "its inputs are: " + join(port_names(d.inputs), ", "));
      const std::vector<PortSpec>* source_ports = nullptr;
      if (ref.source_node == kInputNodeId) {
        source_ports = &input_node_ports();
      } else if (auto it = spec_index.find(ref.source_node); it != spec_index.end()) {
        source_ports = &plugins[it->second]->descriptor.outputs;
      } else {
        throw Error(ref.where, n.id,
                    "input '" + ref.port + "' refers to node '" + ref.source_node + "', which does not exist" +
                        did_you_mean(ref.source_node, ids),
                    "wire it to an existing node: " + join(ids, ", "));
      }
      const PortSpec* out = nullptr;
      for (const auto& p : *source_ports)
        if (p.name == ref.source_port) out = &p;
      if (out == nullptr)
        throw Error(ref.where, n.id,
                    "node '" + ref.source_node + "' has no output '" + ref.source_port + "'" +
                        did_you_mean(ref.source_port, port_names(*source_ports)),
                    "its outputs are: " + join(port_names(*source_ports), ", "));
      if (out->type != in->type)
        throw Error(ref.where, n.id,
                    "input '" + ref.port + "' expects " + to_string(in->type) + " but " + ref.source_node + "." +
                        ref.source_port + " is " + to_string(out->type),
                    "wire '" + ref.port + "' to an output of type " + to_string(in->type));
      wires[i][ref.port] = {ref.source_node, ref.source_port};
    }
    for (const auto& in : d.inputs)
      if (!in.optional && !wires[i].count(in.name))
        throw Error(n.where, n.id, "required input '" + in.name + "' (" + to_string(in.type) + ") is not connected",
                    "add inputs = { " + in.name + " = \"<node>.<port>\" }");
  }
  return wires;
}

// The cycle among the unfinished nodes, as an error: walks dependencies from
// an unfinished node until one repeats.
[[noreturn]] void throw_cycle(const std::vector<NodeSpec>& specs, const std::vector<std::set<size_t>>& deps,
                              const std::vector<bool>& done) {
  size_t start = 0;
  while (done[start]) ++start;
  std::vector<size_t> path;
  std::vector<int> seen(specs.size(), -1);
  size_t cur = start;
  while (seen[cur] < 0) {
    seen[cur] = static_cast<int>(path.size());
    path.push_back(cur);
    for (size_t d : deps[cur])
      if (!done[d]) {
        cur = d;
        break;
      }
  }
  // path[seen[cur]..] is the cycle, listed consumer -> producer; print
  // it in data-flow order.
  std::vector<std::string> cycle;
  for (size_t k = path.size(); k-- > static_cast<size_t>(seen[cur]);) cycle.push_back(specs[path[k]].id);
  cycle.push_back(cycle.front());
  const NodeSpec& first = specs[cur];
  throw Error(first.where, first.id, "the graph has a cycle: " + join(cycle, " -> "),
              "break the cycle by rewiring one of these inputs");
}

// Phase 3: execution order by Kahn's algorithm, ties broken by file order so
// runs are deterministic; leftovers mean a cycle.
std::vector<size_t> execution_order(const std::vector<NodeSpec>& specs, const Wires& wires,
                                    const std::map<std::string, size_t>& spec_index) {
  std::vector<std::set<size_t>> deps(specs.size());
  for (size_t i = 0; i < specs.size(); ++i)
    for (const auto& [port, src] : wires[i])
      if (src.first != kInputNodeId) deps[i].insert(spec_index.at(src.first));
  std::vector<size_t> order;
  std::vector<bool> done(specs.size(), false);
  while (order.size() < specs.size()) {
    bool progressed = false;
    for (size_t i = 0; i < specs.size() && !progressed; ++i) {
      if (done[i]) continue;
      if (std::all_of(deps[i].begin(), deps[i].end(), [&](size_t d) { return done[d]; })) {
        done[i] = true;
        order.push_back(i);
        progressed = true;
      }
    }
    if (!progressed) throw_cycle(specs, deps, done);
  }
  return order;
}

// Phase 4: the graph's nodes in execution order, with weights paths
// resolved against the pipeline's folder and inputs as node indices.
Graph assemble_nodes(const PipelineSpec& spec, const std::vector<size_t>& order,
                     const std::vector<const LoadedPlugin*>& plugins, const std::vector<Params>& params,
                     const Wires& wires) {
  const std::vector<NodeSpec>& specs = spec.nodes;
  Graph g;
  for (size_t i : order) {
    GraphNode node;
    node.id = specs[i].id;
    node.plugin = plugins[i];
    node.params = params[i];
    node.where = specs[i].where;
    if (const auto& w = specs[i].weights) {
      const std::string& file = std::get<std::string>(w->value);
      const std::filesystem::path p(file), dir = std::filesystem::path(spec.file).parent_path();
      node.weights = p.is_relative() && !file.empty() ? (dir / p).lexically_normal().string() : file;
      node.weights_where = w->where;
    }
    if (const auto& t = specs[i].trainable) {
      node.trainable = std::get<std::vector<std::string>>(t->value);
      node.trainable_where = t->where;
    }
    g.nodes.push_back(std::move(node));
  }
  for (size_t k = 0; k < order.size(); ++k)
    for (const auto& [port, src] : wires[order[k]])
      g.nodes[k].inputs[port] = PortRef{src.first == kInputNodeId ? -1 : g.index_of(src.first), src.second};
  return g;
}

// Phase 5: an output port: explicit in [outputs], else the last port of
// that type produced.
std::optional<PortRef> resolve_output(const Graph& g, const PipelineSpec& spec, const std::vector<std::string>& ids,
                                      const std::string& key, PortType want) {
  if (auto it = spec.outputs.find(key); it != spec.outputs.end()) {
    const OutputRef& ref = it->second;
    int idx = g.index_of(ref.source_node);
    if (idx < 0)
      throw Error(ref.where, "",
                  "output '" + key + "' refers to node '" + ref.source_node + "', which does not exist" +
                      did_you_mean(ref.source_node, ids),
                  "use one of: " + join(ids, ", "));
    const PortSpec* p = g.nodes[idx].plugin->descriptor.find_output(ref.source_port);
    if (p == nullptr || p->type != want)
      throw Error(ref.where, ref.source_node,
                  "output '" + key + "' must name a " + to_string(want) + " port, but " + ref.source_node + "." +
                      ref.source_port + (p ? " is " + std::string(to_string(p->type)) : " does not exist"),
                  "point " + key + " at a node output of type " + to_string(want));
    return PortRef{idx, ref.source_port};
  }
  for (size_t k = g.nodes.size(); k-- > 0;)
    for (const auto& out : g.nodes[k].plugin->descriptor.outputs)
      if (out.type == want) return PortRef{static_cast<int>(k), out.name};
  return std::nullopt;
}

}  // namespace

Graph build_graph(PipelineSpec spec, const PluginCatalog& catalog) {
  const std::vector<NodeSpec>& specs = spec.nodes;
  std::map<std::string, size_t> spec_index;
  std::vector<std::string> ids = {kInputNodeId};
  for (size_t i = 0; i < specs.size(); ++i) {
    spec_index[specs[i].id] = i;
    ids.push_back(specs[i].id);
  }

  std::vector<const LoadedPlugin*> plugins(specs.size());
  std::vector<Params> params(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    plugins[i] = find_plugin(specs[i], catalog);
    params[i] = validate_params(plugins[i]->descriptor, specs[i].params, specs[i].id);
    apply_protocol_knob_aliases(spec, specs[i], plugins[i]->descriptor);
  }
  const Wires wires = connect_inputs(specs, plugins, spec_index, ids);
  const std::vector<size_t> order = execution_order(specs, wires, spec_index);
  Graph g = assemble_nodes(spec, order, plugins, params, wires);

  // Outputs: explicit [outputs], else the last Logits / LabelMap produced.
  auto logits = resolve_output(g, spec, ids, "logits", PortType::Logits);
  if (!logits)
    throw Error({spec.file, 1, 1}, "", "the pipeline produces no Logits",
                "add a fusion node (e.g. cosine_logits) and name it in [outputs] logits = \"node.port\"");
  g.logits_output = *logits;
  g.labels_output = resolve_output(g, spec, ids, "labels", PortType::LabelMap);
  g.spec = std::move(spec);
  return g;
}

std::string Graph::describe() const {
  std::ostringstream os;
  os << "pipeline '" << spec.name << "' (" << spec.file << ")\n";
  if (!spec.description.empty()) os << "  " << spec.description << "\n";
  if (!spec.protocol.empty()) {
    os << "protocol:";
    for (const auto& [k, v] : spec.protocol) os << " " << k << "=" << format_param_value(v.value);
    os << "\n";
  }
  os << "nodes in execution order:\n";
  for (size_t i = 0; i < nodes.size(); ++i) {
    const auto& n = nodes[i];
    const auto& d = n.plugin->descriptor;
    os << "  " << i + 1 << ". " << n.id << " = " << d.name << " (" << to_string(d.kind) << ")\n";
    for (const auto& [port, ref] : n.inputs) os << "       in  " << port << " <- " << ref.str(*this) << "\n";
    for (const auto& out : d.outputs) os << "       out " << out.name << ": " << to_string(out.type) << "\n";
    if (n.trainable) {
      os << "       trainable =";
      for (const auto& t : *n.trainable) os << " " << t;
      os << (n.trainable->empty() ? " (none: frozen)" : "") << "\n";
    }
    if (!n.weights.empty()) os << "       weights = " << n.weights << "\n";
    for (const auto& [name, value] : n.params.all()) {
      const ParamSpec* ps = d.find_param(name);
      bool is_default = ps && format_param_value(ps->default_value) == format_param_value(value);
      os << "       " << name << " = " << format_param_value(value) << (is_default ? "" : "   (set)") << "\n";
    }
  }
  os << "outputs: logits <- " << logits_output.str(*this) << ", labels <- "
     << (labels_output ? labels_output->str(*this) : "argmax(logits)") << "\n";
  return os.str();
}

std::string Graph::to_dot() const {
  std::ostringstream os;
  os << "digraph \"" << spec.name << "\" {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n";
  os << "  \"input\" [shape=ellipse];\n";
  for (const auto& n : nodes)
    os << "  \"" << n.id << "\" [label=\"" << n.id << "\\n"
       << n.plugin->descriptor.name << " (" << to_string(n.plugin->descriptor.kind) << ")\"];\n";
  for (const auto& n : nodes)
    for (const auto& [port, ref] : n.inputs) {
      std::string src = ref.node < 0 ? std::string(kInputNodeId) : nodes[ref.node].id;
      const PortSpec* in = n.plugin->descriptor.find_input(port);
      os << "  \"" << src << "\" -> \"" << n.id << "\" [label=\"" << ref.port << " -> " << port
         << (in ? std::string("\\n") + to_string(in->type) : "") << "\"];\n";
    }
  os << "}\n";
  return os.str();
}

}  // namespace ovseg
