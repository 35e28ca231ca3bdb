#include "ovseg/host/ground_truth.hpp"

#include <map>

namespace ovseg {

bool training_only_truth(const GraphNode& node, const std::string& port) {
  auto it = node.inputs.find(port);
  if (it == node.inputs.end() || it->second.node >= 0) return false;
  if (it->second.port != kGroundTruthLabels && it->second.port != kGroundTruthInstances) return false;
  const PortSpec* spec = node.plugin->descriptor.find_input(port);
  return spec != nullptr && spec->optional;
}

GroundTruthUse ground_truth_use(const Graph& graph, const std::vector<bool>& run_node, bool training) {
  GroundTruthUse use;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (!run_node.empty() && !run_node[i]) continue;
    for (const auto& [port, ref] : graph.nodes[i].inputs) {
      if (ref.node >= 0) continue;
      if (!training && training_only_truth(graph.nodes[i], port)) continue;
      use.labels |= ref.port == kGroundTruthLabels;
      use.instances |= ref.port == kGroundTruthInstances;
    }
  }
  return use;
}

Masks instance_masks(const at::Tensor& instance_ids, const at::Tensor& labels, int64_t ignore) {
  expect_shape(instance_ids, {-1, -1, -1}, "instance id map");
  expect_shape(labels, {instance_ids.size(0), instance_ids.size(1), instance_ids.size(2)},
               "labels beside the instance ids");
  const at::Tensor ids = instance_ids.to(at::kCPU, at::kLong).contiguous();
  const at::Tensor lab = labels.to(at::kCPU, at::kLong).contiguous();
  const int64_t B = ids.size(0), H = ids.size(1), W = ids.size(2);
  std::vector<std::vector<int64_t>> per_image(B);  // instance ids present, ascending
  std::vector<std::vector<int64_t>> classes(B);
  int64_t n = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t* id = ids[b].data_ptr<int64_t>();
    const int64_t* lb = lab[b].data_ptr<int64_t>();
    std::map<int64_t, std::map<int64_t, int64_t>> votes;  // instance -> class -> pixels
    for (int64_t p = 0; p < H * W; ++p)
      if (id[p] > 0) {
        auto& v = votes[id[p]];
        if (lb[p] != ignore)
          ++v[lb[p]];
        else
          v.emplace(-1, 0);
      }
    for (const auto& [inst, v] : votes) {
      per_image[b].push_back(inst);
      int64_t best = -1, count = 0;
      for (const auto& [c, k] : v)
        if (c >= 0 && k > count) best = c, count = k;
      classes[b].push_back(best);
    }
    n = std::max<int64_t>(n, static_cast<int64_t>(per_image[b].size()));
  }
  Masks m;
  m.logits = at::zeros({B, n, H, W}, at::kFloat);
  m.classes = at::full({B, n}, -1, at::kLong);
  for (int64_t b = 0; b < B; ++b)
    for (size_t k = 0; k < per_image[b].size(); ++k) {
      m.logits[b][static_cast<int64_t>(k)].copy_((ids[b] == per_image[b][k]).to(at::kFloat));
      m.classes[b][static_cast<int64_t>(k)] = classes[b][k];
    }
  return m;
}

std::map<std::string, PortValue> ground_truth_inputs(const GroundTruthUse& use, const at::Tensor& labels,
                                                     const at::Tensor& instance_ids,
                                                     const std::vector<std::string>& class_names,
                                                     const c10::Device& device) {
  std::map<std::string, PortValue> out;
  if (use.labels) out[std::string("input.") + kGroundTruthLabels] = LabelMap{labels.to(device), class_names};
  if (use.instances) {
    Masks m = instance_masks(instance_ids, labels);
    m.logits = m.logits.to(device);
    m.classes = m.classes.to(device);
    out[std::string("input.") + kGroundTruthInstances] = std::move(m);
  }
  return out;
}

}  // namespace ovseg
