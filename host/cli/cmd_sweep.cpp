// `ovseg sweep SWEEP.toml`: every point of an ablation grid as a stored run
// (points already stored are skipped), then the ablation table.
#include <cstdio>
#include <fstream>
#include <iostream>

#include "commands.hpp"
#include "ovseg/host/eval_run.hpp"
#include "ovseg/host/graph.hpp"
#include "ovseg/host/sweep.hpp"
#include "ovseg/sdk/diagnostics.hpp"

namespace ovseg::cli {

namespace {

std::string format_miou(const nlohmann::json& record) {
  const auto& v = record["metrics"]["mIoU"];
  if (!v.is_number()) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v.get<double>());
  return buf;
}

int run_sweep(const ParsedArgs& args) {
  SweepSpec sweep = load_sweep(args.positionals[0]);
  for (const auto& entry : args.all("--data-root")) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) throw UsageError("ovseg sweep: --data-root takes NAME=DIR, got '" + entry + "'");
    sweep.data_roots[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& d : sweep.datasets)
    if (!sweep.data_roots.count(d))
      throw Error({sweep.file, 0, 0}, "", "no data root for data set '" + d + "'",
                  "add it under [data_roots] or pass --data-root " + d + "=DIR");
  if (args.has("--limit")) sweep.limit = parse_count("sweep", "--limit", args.get("--limit"));

  const std::vector<SweepPoint> points = sweep_points(sweep);
  std::cout << "sweep '" << sweep.name << "': " << points.size() << " points x " << sweep.datasets.size()
            << " data set(s) over " << sweep.pipeline << "\n";
  PluginCatalog catalog = load_catalog(args);
  const std::vector<Override> cli_overrides = command_line_overrides(sweep.pipeline, args);

  // Validate every point before running any: a typo in the last axis value
  // should not surface after an hour of evaluation.
  std::vector<Graph> graphs;
  for (const auto& p : points) {
    std::vector<Override> all = cli_overrides;
    all.insert(all.end(), p.overrides.begin(), p.overrides.end());
    graphs.push_back(build_graph(load_pipeline_spec(sweep.pipeline, all), catalog));
  }
  if (args.has("--dry-run")) {
    for (const auto& p : points) std::cout << "  " << p.label << "\n";
    return 0;
  }

  std::vector<std::vector<std::string>> cells(points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    for (const auto& d : sweep.datasets) {
      EvalOptions o;
      o.dataset = d;
      o.data_root = sweep.data_roots.at(d);
      o.limit = sweep.limit;
      o.device = args.get("--device", "cpu");
      o.results_dir = args.get("--results", "results/runs");
      o.progress = !args.has("--quiet");
      EvalOutcome out = run_eval(graphs[i], o);
      std::cout << "[" << i + 1 << "/" << points.size() << "] " << points[i].label << " on " << d << ": mIoU "
                << format_miou(out.record) << (out.already_stored ? " (stored earlier)" : "") << "\n";
      cells[i].push_back(format_miou(out.record));
    }
  }

  std::ostringstream table;
  table << "**" << sweep.name << "** (mIoU %, base " << sweep.pipeline
        << (sweep.limit >= 0 ? ", first " + std::to_string(sweep.limit) + " images" : "") << ")\n\n| point |";
  for (const auto& d : sweep.datasets) table << " " << d << " |";
  table << "\n| :--- |";
  for (size_t k = 0; k < sweep.datasets.size(); ++k) table << " ---: |";
  table << "\n";
  for (size_t i = 0; i < points.size(); ++i) {
    table << "| " << points[i].label << " |";
    for (const auto& c : cells[i]) table << " " << c << " |";
    table << "\n";
  }
  std::cout << "\n" << table.str();
  if (args.has("--out")) {
    std::ofstream(args.get("--out")) << table.str();
    std::cout << "wrote " << args.get("--out") << "\n";
  }
  return 0;
}

}  // namespace

Command sweep_command() {
  CommandSpec spec;
  spec.name = "sweep";
  spec.summary = "run every point of an ablation grid (stored points are skipped) and print the table";
  spec.usage = "SWEEP.toml [--data-root NAME=DIR]... [--limit N] [--results DIR] [--dry-run]";
  spec.min_positionals = spec.max_positionals = 1;
  spec.options = pipeline_options();
  spec.options.push_back({"--data-root", "NAME=DIR", "data root of a data set (repeatable; overrides [data_roots])", true});
  spec.options.push_back({"--limit", "N", "only the first N images of each data set", false});
  spec.options.push_back({"--results", "DIR", "results store (default results/runs)", false});
  spec.options.push_back({"--out", "FILE", "also write the ablation table (Markdown) here", false});
  spec.options.push_back({"--dry-run", "", "validate every point and list them, run nothing", false});
  spec.options.push_back({"--quiet", "", "no progress line", false});
  spec.details = "Sweep file format: see host/include/ovseg/host/sweep.hpp and pipelines/sweeps/.";
  return {spec, run_sweep};
}

}  // namespace ovseg::cli
