#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x

#include "ovseg/host/stage_weights.hpp"

#include <filesystem>
#include <set>

#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/sdk/diagnostics.hpp"
#include "ovseg/sdk/stage.hpp"
#include "ovseg/sdk/atomic_file.hpp"

namespace ovseg {

namespace fs = std::filesystem;

void resolve_trainable(const GraphNode& node, std::vector<LearnableTensor>& tensors) {
  if (!node.trainable) return;  // the stage's defaults stand
  std::vector<std::string> names;
  for (const auto& t : tensors)
    if (!t.buffer) names.push_back(t.name);
  if (names.empty() && !node.trainable->empty())
    throw Error(node.trainable_where, node.id,
                "plugin '" + node.plugin->descriptor.name + "' has no learnable parameters",
                "remove `trainable` from this node");
  for (const auto& pattern : *node.trainable) {
    bool matched = false;
    for (const auto& n : names) matched |= glob_match(pattern, n);
    if (!matched) {
      // Suggest names near the pattern with its wildcards dropped.
      std::string bare;
      for (char c : pattern)
        if (c != '*' && c != '?') bare += c;
      std::vector<std::string> near;
      for (const auto& n : names)
        if (!bare.empty() && n.find(bare) != std::string::npos) near.push_back(n);
      if (near.empty()) near = nearest_names(bare, names);
      std::string list;
      for (size_t i = 0; i < near.size() && i < 3; ++i) list += (i ? ", " : "") + near[i];
      throw Error(node.trainable_where, node.id,
                  "trainable pattern '" + pattern + "' matches none of the " + std::to_string(names.size()) +
                      " parameters of plugin '" + node.plugin->descriptor.name + "'" +
                      (list.empty() ? "" : " (near: " + list + ")"),
                  "list them with `ovseg params PIPELINE.toml`; '*' matches any run of characters");
    }
  }
  for (auto& t : tensors) {
    if (t.buffer) continue;
    t.trainable = false;
    for (const auto& pattern : *node.trainable) t.trainable |= glob_match(pattern, t.name);
  }
}

void save_stage_weights(const std::string& path, const std::vector<LearnableTensor>& tensors,
                        std::map<std::string, std::string> metadata) {
  models::StateDict sd;
  std::set<std::string> nodes;
  for (const auto& t : tensors) {
    if (!t.trainable && !t.buffer) continue;
    sd[t.key()] = t.tensor.detach().to(at::kCPU).contiguous().clone();
    nodes.insert(t.node_id);
  }
  std::string list;
  for (const auto& n : nodes) list += (list.empty() ? "" : ",") + n;
  metadata["ovseg.nodes"] = list;
  metadata["ovseg.format"] = "stage-weights/1";
  const fs::path final_path(path);
  if (final_path.has_parent_path()) fs::create_directories(final_path.parent_path());
  write_atomically(path, [&](const std::string& tmp) { models::save_safetensors(tmp, sd, metadata); });
}

std::vector<std::string> weights_file_nodes(const std::string& path) {
  std::map<std::string, std::string> metadata;
  const models::StateDict sd = models::load_safetensors(path, &metadata);
  std::set<std::string> nodes;
  if (auto it = metadata.find("ovseg.nodes"); it != metadata.end() && !it->second.empty()) {
    size_t start = 0;
    while (start <= it->second.size()) {
      const auto comma = it->second.find(',', start);
      nodes.insert(it->second.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  } else {
    for (const auto& [key, t] : sd) nodes.insert(key.substr(0, key.find('.')));
  }
  return {nodes.begin(), nodes.end()};
}

void load_node_weights(const GraphNode& node, const std::string& path, const WeightsFile& file,
                       const std::vector<LearnableTensor>& tensors) {
  const std::string prefix = node.id + ".";
  const std::string plugin = node.plugin->descriptor.name;
  std::map<std::string, const LearnableTensor*> by_name;
  std::vector<std::string> names;
  for (const auto& t : tensors) {
    by_name[t.name] = &t;
    names.push_back(t.name);
  }
  std::set<std::string> present;
  std::set<std::string> file_nodes;
  for (const auto& [key, value] : file) {
    const auto dot = key.find('.');
    file_nodes.insert(key.substr(0, dot));
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string name = key.substr(prefix.size());
    auto it = by_name.find(name);
    if (it == by_name.end())
      throw Error(node.weights_where, node.id,
                  "weights file " + path + " has tensor '" + key + "', but plugin '" + plugin +
                      "' has no parameter or buffer '" + name + "'" + did_you_mean(name, names),
                  "was the file trained with another plugin or model? Check `ovseg params`");
    const at::Tensor& dst = it->second->tensor;
    if (!value.sizes().equals(dst.sizes()))
      throw Error(node.weights_where, node.id,
                  "weights file " + path + ": tensor '" + key + "' has shape " + shape_string(value) +
                      ", the stage's has " + shape_string(dst),
                  "the model's geometry differs from the one the file was trained with");
    at::NoGradGuard no_grad;
    dst.copy_(value.to(dst.device(), dst.scalar_type()));
    present.insert(name);
  }
  if (present.empty()) {
    std::string held;
    for (const auto& n : file_nodes) held += (held.empty() ? "" : ", ") + n;
    throw Error(node.weights_where, node.id,
                "weights file " + path + " holds no tensors for node '" + node.id + "'" +
                    (held.empty() ? " (it is empty)" : " (it holds nodes " + held + ")"),
                "node ids must match those of the pipeline that was trained");
  }
  for (const auto& t : tensors)
    if ((t.trainable || t.buffer) && !present.count(t.name))
      throw Error(node.weights_where, node.id,
                  "weights file " + path + " lacks '" + t.key() + "', a " +
                      (t.buffer ? "buffer" : "trainable parameter") + " of this node",
                  "train with the same `trainable` patterns, or narrow them here");
}

}  // namespace ovseg
