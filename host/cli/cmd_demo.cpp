// `ovseg demo`: the embedded default end to end. Generates the procedural
// world's evaluation scenes, runs every technique pipeline listed in
// pipelines/demo.toml through the real harness with the embedded CLIP (which
// `ovseg train-clip` made on the world's training scenes), stores the
// records, prints the comparison table with the chance level, and writes the
// HTML report with overlays.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "commands.hpp"
#include "ovseg/harness/dataset.hpp"
#include "ovseg/host/demo_spec.hpp"
#include "ovseg/host/device.hpp"
#include "ovseg/host/eval_run.hpp"
#include "ovseg/host/graph.hpp"
#include "ovseg/host/plugin_loader.hpp"
#include "ovseg/host/results_store.hpp"
#include "ovseg/host/tables.hpp"
#include "ovseg/sdk/data_dir.hpp"
#include "ovseg/world/world.hpp"

namespace fs = std::filesystem;

namespace ovseg::cli {

namespace {

std::string pct(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// The val split is regenerated only when it is not the one the demo file
// asks for (scenes are a pure function of the seed).
void ensure_world(const DemoSpec& spec, const fs::path& root) {
  if (spec.world_version > world::kLatestWorldVersion)
    throw std::runtime_error(spec.file + ": world_version " + std::to_string(spec.world_version) +
                             " is unknown (1 to " + std::to_string(world::kLatestWorldVersion) + ")");
  world::SceneOptions o;
  o.width = o.height = spec.val_size;
  o.version = spec.world_version;
  if (world::world_split_is_current(root.string(), "val", spec.val_scenes, spec.world_seed, o)) return;
  fs::remove_all(root / "val");  // stale scenes of another seed, size, world or generator version
  world::write_world_split(root.string(), "val", spec.val_scenes, spec.world_seed, o);
}

// Chance levels from the ground-truth class frequencies f_c (K classes):
// uniform random labels give IoU_c = (f_c/K) / (f_c + 1/K - f_c/K) in
// expectation; always answering the most frequent class gives f_max / K mIoU.
std::pair<double, double> chance_miou(const harness::Dataset& ds) {
  const int k = ds.num_classes();
  std::vector<double> count(k, 0.0);
  double total = 0;
  for (size_t i = 0; i < ds.size(); ++i) {
    const cv::Mat label = ds.sample(i).label;
    for (int y = 0; y < label.rows; ++y)
      for (int x = 0; x < label.cols; ++x) {
        const int c = label.at<int32_t>(y, x);
        if (c >= 0 && c < k) count[c] += 1, total += 1;
      }
  }
  double uniform = 0, fmax = 0;
  for (double c : count) {
    const double f = c / total;
    uniform += (f / k) / (f + 1.0 / k - f / k);
    fmax = std::max(fmax, f);
  }
  return {100.0 * uniform / k, 100.0 * fmax / k};
}

// The data folder's copy (found relative to the binary, ovseg/sdk/data_dir.hpp).
std::string default_demo_file() { return data_path("pipelines/demo.toml"); }

int run_demo(const ParsedArgs& args) {
  const auto t0 = std::chrono::steady_clock::now();
  const DemoSpec spec = load_demo_spec(args.get("--spec", default_demo_file()));
  const fs::path out = args.get("--out", "out/demo");
  const fs::path world_root = out / "world", results = out / "runs";
  ensure_world(spec, world_root);
  const auto ds = harness::make_dataset("folder", world_root.string(), "val");
  const auto [chance_uniform, chance_majority] = chance_miou(*ds);
  std::cout << "ovseg demo: " << spec.runs.size() << " pipelines on " << ds->size() << " generated scenes ("
            << spec.val_size << " px, world v" << spec.world_version << ", " << ds->num_classes()
            << " classes, world seed " << spec.world_seed << ")\n  model " << spec.model << "\n";

  PluginCatalog catalog = load_catalog(args);
  const std::string class_file = (world_root / "class_names.txt").string();
  for (size_t i = 0; i < spec.runs.size(); ++i) {
    const DemoRun& run = spec.runs[i];
    const auto r0 = std::chrono::steady_clock::now();
    Graph graph = build_graph(load_pipeline_spec(run.pipeline, demo_run_overrides(spec, run, class_file), "folder"),
                              catalog);
    EvalOptions o;
    o.dataset = "folder";
    o.data_root = world_root.string();
    o.results_dir = results.string();
    o.progress = false;
    o.force = args.has("--force");
    o.device = args.get("--device", default_device());
    const EvalOutcome e = run_eval(graph, o);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - r0).count();
    std::printf("  [%zu/%zu] %-22s mIoU %5s   %s\n", i + 1, spec.runs.size(), run.name.c_str(),
                pct(e.record["metrics"]["mIoU"].get<double>()).c_str(),
                e.already_stored ? "(stored)" : (pct(secs) + " s").c_str());
    std::fflush(stdout);
  }

  // Only this demo's records (the store may hold others), in the file's order.
  std::vector<nlohmann::json> records;
  for (const auto& r : load_records(results.string()))
    for (const auto& run : spec.runs)
      if (r["pipeline"]["name"] == run.name) records.push_back(r);
  TableOptions topt;
  topt.per_class_dataset = "folder";
  topt.groups = {RowGroup{"", {}}};  // rows in the demo file's order
  for (const auto& run : spec.runs) topt.groups[0].rows.push_back({run.name, "", ""});
  ComparisonTable table = build_table(records, topt);
  table.title = "per-class IoU (%) on the generated world (val, " + std::to_string(ds->size()) + " scenes)";
  table.footer.insert(table.footer.begin(), "chance level: " + pct(chance_uniform) +
                                                "% mIoU for uniformly random labels, " + pct(chance_majority) +
                                                "% for always answering the most frequent class");
  std::cout << "\n" << render_table(table, TableFormat::Markdown);
  const fs::path report = out / "report.html";
  std::string html = render_table(table, TableFormat::Html);
  const std::string sam = demo_sam_section(world_root.string(),
                                           args.get("--device", default_device()));  // demo_sam.cpp
  // The report's sections end at </main>; SAM's is one more card there.
  const size_t main_end = html.rfind("</main>");
  html.insert(main_end == std::string::npos ? std::min(html.rfind("</body>"), html.size()) : main_end, sam);
  if (!(std::ofstream(report) << html)) throw std::runtime_error("cannot write " + report.string());
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "\nwrote " << report.string() << " (heat map, plots, the images as each method segments them)\n"
            << "records in " << results.string() << "; demo took " << pct(total) << " s\n";
  return 0;
}

}  // namespace

Command demo_command() {
  CommandSpec spec;
  spec.name = "demo";
  spec.summary = "every technique on the generated world with the embedded CLIP: table + report";
  spec.usage = "[--out DIR] [--spec pipelines/demo.toml] [--force]";
  spec.options = {{"--out", "DIR", "output folder: world/, runs/, report.html (default out/demo)", false},
                  {"--spec", "FILE", "demo file listing the runs (default: the source tree's pipelines/demo.toml)",
                   false},
                  {"--plugin-dir", "DIR", "also load plugins from DIR (repeatable)", true},
                  {"--device", "DEV", "cpu, cuda or cuda:N (default: cuda when a GPU is visible, else cpu)", false},
                  {"--force", "", "re-run pipelines whose records are already stored", false}};
  spec.details =
      "The embedded model and how it was trained: host/models/embedded/README.md.\n"
      "Stored records are reused: a second `ovseg demo` only prints the table again.";
  return {spec, run_demo};
}

}  // namespace ovseg::cli
