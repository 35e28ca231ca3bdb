// Cost as the vocabulary grows (issue 21): one pipeline (NACLIP by default),
// one prompt template, a CLIP checkpoint (random ViT-B/16 from
// `ovseg make-random-clip --preset ViT-B/16`), the first N images of a
// folder, through the harness exactly as `ovseg eval` runs them
// (ProtocolRunner: resize, sliding windows, stitching, labels at the image
// size). One vocabulary per process, so the process's peak resident set
// (getrusage) is this K's; scripts/bench_vocabulary.sh runs K = 21 / 81 /
// 150 / 847. Prints: the text side's one-off cost (stage construction: the
// class embeddings), then per image the wall and process CPU time, the
// tensor meter's peak (TensorMemoryMeter: everything allocated during one
// predict, output included) and per-node milliseconds; the image before the
// timed ones is a warm-up.
//
//   build/bin/bench_vocabulary --model random-vitb16.safetensors --classes FILE
//       --images /work/shared/data/coco-object-val2017-mini/images [--n 5] [--prob-thd 0.1]
//       [--pipeline pipelines/naclip.toml] [--set KEY=VALUE]...
//
// --classes takes a class-name file (one class per line, synonyms comma
// separated: every synonym is its own query, as SCLIP's word lists) or a
// number K: then the first K distinct names of every class file in
// host/harness/class_names, padded with "object 1", "object 2", ... when
// those run out (there is no ADE-847 name list in the repository).
#include <ATen/core/grad_mode.h>
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ovseg/host/graph.hpp"
#include "ovseg/host/image_io.hpp"
#include "ovseg/host/inference.hpp"
#include "ovseg/host/pipeline_spec.hpp"
#include "ovseg/host/plugin_loader.hpp"
#include "ovseg/host/protocol.hpp"
#include "ovseg/sdk/bilinear.hpp"
#include "ovseg/sdk/class_names.hpp"
#include "ovseg/sdk/memory_meter.hpp"
#include "ovseg/sdk/bilinear.hpp"
#include "ovseg/sdk/runtime.hpp"

namespace fs = std::filesystem;
using namespace ovseg;

namespace {

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // kB on Linux
}

std::vector<std::vector<std::string>> vocabulary(const std::string& classes) {
  if (fs::is_regular_file(classes)) return read_class_name_file(classes);
  const size_t k = std::stoul(classes);
  std::vector<std::vector<std::string>> out;
  std::set<std::string> seen;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fs::path(OVSEG_SOURCE_DIR) / "host/harness/class_names"))
    if (e.path().extension() == ".txt") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files)
    for (const auto& syns : read_class_name_file(f.string()))
      if (out.size() < k && seen.insert(syns.front()).second) out.push_back({syns.front()});
  for (size_t i = 1; out.size() < k; ++i) out.push_back({"object " + std::to_string(i)});
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  init_process();
  std::map<std::string, std::string> arg = {{"--n", "5"},
                                            {"--pipeline", std::string(OVSEG_SOURCE_DIR) + "/pipelines/naclip.toml"},
                                            {"--prob-thd", "0"}};
  std::vector<Override> overrides;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    if (key == "--set")
      overrides.push_back(parse_override(argv[i + 1]));
    else
      arg[key] = argv[i + 1];
  }
  for (const char* needed : {"--model", "--classes", "--images"})
    if (!arg.count(needed)) {
      std::cerr << "usage: bench_vocabulary --model CLIP.safetensors --classes FILE|K --images DIR [--n 5] "
                   "[--prob-thd P] [--pipeline TOML] [--set KEY=VALUE]...\n";
      return 2;
    }
  const std::string model = fs::absolute(arg["--model"]).string();
  overrides.push_back(parse_override("nodes.clip.model=\"" + model + "\""));
  overrides.push_back(parse_override("nodes.text.model=\"" + model + "\""));
  overrides.push_back(parse_override("nodes.text.templates=\"single\""));
  overrides.push_back(parse_override("nodes.text.cache=false"));  // the text side is part of the cost
  overrides.push_back(parse_override("protocol.prob_thd=" + arg["--prob-thd"]));

  const PluginCatalog catalog = discover_plugins({OVSEG_PLUGIN_DIR});
  const Graph graph = build_graph(load_pipeline_spec(arg["--pipeline"], overrides), catalog);
  const Protocol protocol = parse_protocol(graph.spec);
  const auto vocab = vocabulary(arg["--classes"]);
  size_t queries = 0;
  for (const auto& syns : vocab) queries += syns.size();

  at::NoGradGuard no_grad;
  double wall0 = 0;
  const double cpu0 = process_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  ProtocolRunner runner(graph, protocol, "cpu", vocab);
  wall0 = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "K " << vocab.size() << " (" << queries << " queries), pipeline " << graph.spec.name << ", prob_thd "
            << protocol.prob_thd << ", ATen threads " << at::get_num_threads() << ", bilinear kernel "
            << bilinear_kernel() << "\n"
            << "stages (text embeddings): " << std::fixed << std::setprecision(2) << wall0 << " s wall, "
            << process_cpu_seconds() - cpu0 << " s CPU, peak RSS " << std::setprecision(0) << peak_rss_mb() << " MB\n";

  std::vector<fs::path> images;
  for (const auto& e : fs::directory_iterator(arg["--images"])) images.push_back(e.path());
  std::sort(images.begin(), images.end());
  const size_t n = std::min(images.size(), std::stoul(arg["--n"]));
  std::map<std::string, double> node_ms;
  double wall = 0, cpu = 0, meter_peak = 0;
  for (size_t i = 0; i <= n; ++i) {
    const fs::path& file = images[i == 0 ? 0 : i - 1];  // image 0 twice: the warm-up, then timed
    const cv::Mat bgr = read_bgr_image(file.string());
    const double c0 = process_cpu_seconds();
    const auto w0 = std::chrono::steady_clock::now();
    TensorMemoryMeter meter;
    const Prediction p = runner.predict(preprocess_image(bgr, protocol), bgr.rows, bgr.cols);
    const double w = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
    const double c = process_cpu_seconds() - c0;
    if (i == 0) continue;
    wall += w;
    cpu += c;
    meter_peak = std::max(meter_peak, meter.peak_mb());
    for (const auto& t : p.timings) node_ms[t.node] += t.milliseconds;
    std::cout << "  " << file.filename().string() << " " << bgr.cols << "x" << bgr.rows << " -> " << p.resized_w << "x"
              << p.resized_h << ", " << p.num_windows << " windows: " << std::setprecision(3) << w << " s wall, " << c
              << " s CPU, meter peak " << std::setprecision(0) << meter.peak_mb() << " MB\n";
  }
  std::cout << std::setprecision(3) << "per image: " << wall / n << " s wall, " << cpu / n << " s CPU; meter peak "
            << std::setprecision(0) << meter_peak << " MB; process peak RSS " << peak_rss_mb() << " MB\n"
            << "per node (ms/image):";
  double nodes_ms = 0;
  for (const auto& node : graph.nodes)
    if (node_ms.count(node.id)) {
      std::cout << " " << node.id << " " << std::setprecision(1) << node_ms[node.id] / n;
      nodes_ms += node_ms[node.id] / n;
    }
  // What the per-class cost is made of, without the image tower's run-to-run
  // noise: the class-wise nodes plus the harness's stitching and labelling.
  std::cout << "\nharness (wall minus nodes: decode, stitching, resize to the label size, argmax): "
            << 1000 * wall / n - nodes_ms << " ms/image\n";
  return 0;
}
