// Where a pipeline's window-phase time goes, ATen op by op (issue 21): the
// window phase of pipelines/naclip.toml (CLIP's image tower, the NACLIP
// block, cosine logits, the resize to the window) on one batch of N window
// crops of an image, as ProtocolRunner::run_window_phase runs it, under
// LibTorch's (legacy) profiler. Prints the self CPU milliseconds per op
// (time inside an op minus the ops it called) and per group: matrix
// products (with their GFLOP/s from the recorded shapes), LayerNorm, the
// GELU / SiLU activation, softmax, other elementwise ops, copies and
// layout changes, the rest; then the profiler's own overhead is the gap to
// the unprofiled wall time, printed too.
//
//   build/bin/profile_window_phase --model random-vitb16.safetensors --image IMG
//       [--windows 8] [--runs 2] [--pipeline pipelines/naclip.toml] [--set KEY=VALUE]...
//
// One template, VOC21's 21 classes with SCLIP's background words (56
// queries), as the K = 21 row of bench_vocabulary.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "ovseg/host/graph.hpp"
#include "ovseg/host/image_io.hpp"
#include "ovseg/host/inference.hpp"
#include "ovseg/host/pipeline_spec.hpp"
#include "ovseg/host/plugin_loader.hpp"
#include "ovseg/sdk/class_names.hpp"
#include "ovseg/sdk/runtime.hpp"

using namespace ovseg;
namespace prof = torch::autograd::profiler;

namespace {

struct OpTotals {
  double self_ms = 0;
  long calls = 0;
  double gflop = 0;  // matrix products only
};

// 2 M K N of addmm / mm / bmm from the recorded input shapes (0 otherwise).
double matmul_gflop(const std::string& name, const std::vector<std::vector<int64_t>>& s) {
  auto last2 = [](const std::vector<int64_t>& v, size_t i) { return v.size() >= 2 ? v[v.size() - 2 + i] : 0; };
  if (name == "aten::addmm" && s.size() >= 3 && s[1].size() == 2 && s[2].size() == 2)
    return 2.0 * s[1][0] * s[1][1] * s[2][1] / 1e9;
  if (name == "aten::mm" && s.size() >= 2 && s[0].size() == 2 && s[1].size() == 2)
    return 2.0 * s[0][0] * s[0][1] * s[1][1] / 1e9;
  if (name == "aten::bmm" && s.size() >= 2 && s[0].size() == 3 && s[1].size() == 3)
    return 2.0 * s[0][0] * last2(s[0], 0) * last2(s[0], 1) * last2(s[1], 1) / 1e9;
  return 0;
}

std::string group_of(const std::string& op) {
  static const std::map<std::string, std::string> groups = {
      {"aten::addmm", "matrix products"},
      {"aten::mm", "matrix products"},
      {"aten::bmm", "matrix products"},
      {"aten::matmul", "matrix products"},
      {"aten::linear", "matrix products"},
      {"aten::native_layer_norm", "LayerNorm"},
      {"aten::layer_norm", "LayerNorm"},
      {"aten::silu_", "GELU (as SiLU)"},
      {"aten::silu", "GELU (as SiLU)"},
      {"aten::gelu", "GELU (as SiLU)"},
      {"aten::_softmax", "softmax"},
      {"aten::softmax", "softmax"},
      {"aten::copy_", "copies / layout"},
      {"aten::clone", "copies / layout"},
      {"aten::contiguous", "copies / layout"},
      {"aten::cat", "copies / layout"},
      {"aten::reshape", "copies / layout"},
      {"aten::empty", "copies / layout"},
      {"aten::empty_like", "copies / layout"},
      {"aten::to", "copies / layout"},
      {"aten::add", "elementwise"},
      {"aten::add_", "elementwise"},
      {"aten::mul", "elementwise"},
      {"aten::mul_", "elementwise"},
      {"aten::div", "elementwise"},
      {"aten::div_", "elementwise"},
      {"aten::sub", "elementwise"},
      {"aten::exp", "elementwise"},
      {"aten::upsample_bilinear2d", "resize to the window"},
  };
  const auto it = groups.find(op);
  return it == groups.end() ? "other" : it->second;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  init_process();
  std::map<std::string, std::string> arg = {{"--windows", "8"},
                                            {"--runs", "2"},
                                            {"--pipeline", std::string(OVSEG_SOURCE_DIR) + "/pipelines/naclip.toml"}};
  std::vector<Override> overrides;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    if (key == "--set")
      overrides.push_back(parse_override(argv[i + 1]));
    else
      arg[key] = argv[i + 1];
  }
  if (!arg.count("--model") || !arg.count("--image")) {
    std::cerr << "usage: profile_window_phase --model CLIP.safetensors --image IMG [--windows 8] [--runs 2] "
                 "[--pipeline TOML] [--set KEY=VALUE]...\n";
    return 2;
  }
  overrides.push_back(parse_override("nodes.clip.model=\"" + arg["--model"] + "\""));
  overrides.push_back(parse_override("nodes.text.model=\"" + arg["--model"] + "\""));
  overrides.push_back(parse_override("nodes.text.templates=\"single\""));
  const PluginCatalog catalog = discover_plugins({OVSEG_PLUGIN_DIR});
  const Graph graph = build_graph(load_pipeline_spec(arg["--pipeline"], overrides), catalog);
  const Protocol protocol = parse_protocol(graph.spec);
  const auto vocabulary = read_class_name_file(std::string(OVSEG_SOURCE_DIR) +
                                               "/host/harness/class_names/cls_voc21.txt");
  ProtocolRunner runner(graph, protocol, "cpu", vocabulary);

  // N windows of the image (repeated when it has fewer).
  const at::Tensor image = preprocess_image(read_bgr_image(arg["--image"]), protocol);
  const auto windows = runner.windows_of(static_cast<int>(image.size(2)), static_cast<int>(image.size(3)));
  const int n = std::stoi(arg["--windows"]);
  std::vector<at::Tensor> crops;
  for (int i = 0; i < n; ++i) {
    const Window& w = windows[static_cast<size_t>(i) % windows.size()];
    crops.push_back(image.slice(2, w.y1, w.y2).slice(3, w.x1, w.x2));
  }
  const at::Tensor batch = at::cat(crops, 0);
  at::NoGradGuard no_grad;
  runner.run_window_phase(batch, {});  // warm-up: lazy inits, first-touch pages
  const int runs = std::stoi(arg["--runs"]);
  auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < runs; ++r) runner.run_window_phase(batch, {});
  const double plain_ms = ms_since(t0) / runs;

  prof::enableProfilerLegacy(prof::ProfilerConfig(prof::ProfilerState::CPU, /*report_input_shapes=*/true));
  t0 = std::chrono::steady_clock::now();
  std::vector<NodeTiming> timings;
  for (int r = 0; r < runs; ++r) runner.run_window_phase(batch, {}, &timings);
  const double profiled_ms = ms_since(t0) / runs;
  const prof::thread_event_lists lists = prof::disableProfilerLegacy();

  // Self time: each op's span minus the spans of the ops it called.
  std::map<std::string, OpTotals> ops;
  for (const auto& list : lists) {
    struct Open {
      const prof::LegacyEvent* push;
      double child_us = 0;
    };
    std::vector<Open> stack;
    for (const auto& e : list) {
      if (e.kind() == prof::EventKind::PushRange) {
        stack.push_back({&e});
      } else if (e.kind() == prof::EventKind::PopRange && !stack.empty()) {
        const Open open = stack.back();
        stack.pop_back();
        const double span = open.push->cpuElapsedUs(e);
        OpTotals& t = ops[open.push->name()];
        t.self_ms += (span - open.child_us) / 1000.0 / runs;
        t.calls += 1;
        t.gflop += matmul_gflop(open.push->name(), open.push->shapes()) / runs;
        if (!stack.empty()) stack.back().child_us += span;
      }
    }
  }
  double total = 0;
  std::map<std::string, OpTotals> groups;
  for (const auto& [name, t] : ops) {
    total += t.self_ms;
    OpTotals& g = groups[group_of(name)];
    g.self_ms += t.self_ms;
    g.gflop += t.gflop;
  }
  std::cout << std::fixed << std::setprecision(1) << "window phase of " << graph.spec.name << " on " << n << " windows "
            << batch.size(2) << "x" << batch.size(3) << ", ATen threads " << at::get_num_threads() << ": " << plain_ms
            << " ms unprofiled, " << profiled_ms << " ms profiled, " << total << " ms in ATen ops (self times below)\n";
  std::cout << "per node (ms):";
  std::map<std::string, double> node_ms;
  for (const auto& t : timings) node_ms[t.node] += t.milliseconds / runs;
  for (const auto& node : graph.nodes)
    if (node_ms.count(node.id)) std::cout << " " << node.id << " " << node_ms[node.id];
  std::cout << "\n\n| group | self ms | share | GFLOP | GFLOP/s |\n|---|---:|---:|---:|---:|\n";
  std::vector<std::pair<std::string, OpTotals>> sorted(groups.begin(), groups.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.second.self_ms > b.second.self_ms; });
  for (const auto& [name, g] : sorted)
    std::cout << "| " << name << " | " << g.self_ms << " | " << 100.0 * g.self_ms / total << "% | "
              << (g.gflop > 0 ? std::to_string(g.gflop).substr(0, 6) : "") << " | "
              << (g.gflop > 0 ? std::to_string(g.gflop / (g.self_ms / 1000.0)).substr(0, 6) : "") << " |\n";
  std::cout << "\n| op | calls/run | self ms | share |\n|---|---:|---:|---:|\n";
  std::vector<std::pair<std::string, OpTotals>> top(ops.begin(), ops.end());
  std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) { return a.second.self_ms > b.second.self_ms; });
  for (size_t i = 0; i < std::min<size_t>(15, top.size()); ++i)
    std::cout << "| " << top[i].first << " | " << top[i].second.calls / runs << " | " << top[i].second.self_ms << " | "
              << 100.0 * top[i].second.self_ms / total << "% |\n";
  return 0;
}
