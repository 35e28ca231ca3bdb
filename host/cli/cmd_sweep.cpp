// `ovseg sweep SWEEP.toml`: every point of an ablation grid as a stored run
// (points already stored are skipped), then the ablation table.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include "commands.hpp"
#include "ovseg/host/device.hpp"
#include "ovseg/host/eval_run.hpp"
#include "ovseg/host/graph.hpp"
#include "ovseg/host/results_store.hpp"
#include "ovseg/host/stage_weights.hpp"
#include "ovseg/host/study.hpp"
#include "ovseg/host/sweep.hpp"
#include "ovseg/host/tables.hpp"
#include "ovseg/models/sha256.hpp"
#include "ovseg/sdk/diagnostics.hpp"
#include "ovseg/train/train_pipeline.hpp"
#include "ovseg/train/train_recipe.hpp"

namespace ovseg::cli {

namespace fs = std::filesystem;

namespace {

std::string percent(const nlohmann::json& v) {
  if (!v.is_number()) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v.get<double>());
  return buf;
}

// A point's training folder: a hash of what the training depends on (the
// pipeline it resolves to, the data set and its root), so points of several
// sweeps that train the same graph share one run, and an edited recipe or
// base pipeline trains anew.
std::string point_folder(const Graph& g, const std::string& dataset, const std::string& root) {
  return models::sha256_hex(g.spec.resolved_toml + "\ndataset=" + dataset +
                            "\nroot=" + fs::absolute(root).lexically_normal().string())
      .substr(0, 12);
}

// --dataset (repeatable) replaces the sweep's data sets; --data-root takes
// NAME=DIR, or a bare DIR when one data set is evaluated.
void apply_command_line_datasets(SweepSpec& sweep, const ParsedArgs& args) {
  if (args.has("--dataset")) sweep.datasets = args.all("--dataset");
  for (const auto& entry : args.all("--data-root")) {
    const auto eq = entry.find('=');
    const bool named = eq != std::string::npos && eq > 0 &&
                       entry.substr(0, eq).find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") ==
                           std::string::npos;
    if (named) {
      sweep.data_roots[entry.substr(0, eq)] = entry.substr(eq + 1);
      continue;
    }
    if (sweep.datasets.size() != 1)
      throw UsageError("ovseg sweep: --data-root '" + entry + "' names no data set and the sweep evaluates " +
                       std::to_string(sweep.datasets.size()) + "; write --data-root NAME=DIR");
    sweep.data_roots[sweep.datasets[0]] = entry;
  }
}

int run_sweep(const ParsedArgs& args) {
  const Precision precision = precision_arg("sweep", args);  // of the evaluations; training stays fp32
  SweepSpec sweep = load_sweep(args.positionals[0]);
  apply_command_line_datasets(sweep, args);
  std::vector<std::string> need = sweep.datasets;
  if (!sweep.train.empty()) need.push_back(sweep.train);
  for (const auto& d : need)
    if (!sweep.data_roots.count(d))
      throw Error({sweep.file, 0, 0}, "", "no data root for data set '" + d + "'",
                  "add it under [data_roots] or pass --data-root " + d + "=DIR");
  if (args.has("--limit")) sweep.limit = parse_count("sweep", "--limit", args.get("--limit"));
  const std::vector<SweepPoint> points = sweep_points(sweep);
  std::cout << "sweep '" << sweep.name << "': " << points.size() << " points x " << sweep.datasets.size()
            << " data set(s) over " << sweep.pipeline << (sweep.train.empty() ? "" : ", each trained on " + sweep.train)
            << "\n";
  PluginCatalog catalog = load_catalog(args);
  const std::vector<Override> cli_overrides = command_line_overrides(sweep.pipeline, args);

  // Validate every point before running any: a typo in the last axis value
  // should not surface after an hour of evaluation.
  std::vector<std::vector<Override>> overrides;
  std::vector<Graph> graphs;
  for (const auto& p : points) {
    std::vector<Override> all = cli_overrides;
    all.insert(all.end(), p.overrides.begin(), p.overrides.end());
    // Trained with the training set's settings; each evaluation below loads
    // the point again with its data set's ([datasets.NAME]) settings.
    graphs.push_back(build_graph(load_pipeline_spec(sweep.pipeline, all, sweep.train), catalog));
    if (!sweep.train.empty()) train::parse_train_recipe(graphs.back().spec);
    for (const auto& d : sweep.datasets) build_graph(load_pipeline_spec(sweep.pipeline, all, d), catalog);
    overrides.push_back(std::move(all));
  }
  if (args.has("--dry-run")) {
    for (const auto& p : points) std::cout << "  " << p.label << "\n";
    return 0;
  }
  std::optional<StudyFolder> study;  // after validation: the log lists sweeps that ran
  if (args.has("--work-dir")) {
    study.emplace(args.get("--work-dir"));
    study->log_command(command_text("sweep", args));
  }

  const std::string device = args.get("--device", default_device());
  const fs::path runs = args.get("--runs", "runs/sweeps");
  AblationInput ablation;
  ablation.name = sweep.name;
  for (const auto& a : sweep.axes) ablation.axes.push_back(a.path);
  std::vector<std::string> train_notes;
  for (size_t i = 0; i < points.size(); ++i) {
    AblationPoint point;
    point.values = points[i].values;
    std::vector<Override> point_overrides = overrides[i];
    if (!sweep.train.empty()) {
      train::PipelineTrainOptions t;
      t.dataset = sweep.train;
      t.data_root = sweep.data_roots.at(sweep.train);
      t.out_dir = (runs / point_folder(graphs[i], t.dataset, t.data_root)).string();
      t.device = device;
      t.progress = !args.has("--quiet");
      t.command = "ovseg sweep " + args.positionals[0] + " (point " + points[i].label + ")";
      std::cout << "[" << i + 1 << "/" << points.size() << "] " << points[i].label << ": training into " << t.out_dir
                << "\n";
      const train::PipelineTrainOutcome out = train::train_pipeline(graphs[i], t);
      char buf[160];
      std::snprintf(buf, sizeof buf, "%s: trained on %s in %.1f min, peak %.0f MB (%s)", points[i].label.c_str(),
                    sweep.train.c_str(), out.run.value("train_seconds", 0.0) / 60.0,
                    out.run.value("peak_memory_mb", 0.0), t.out_dir.c_str());
      train_notes.push_back(buf);
      // The point's graph with every trained node loading its weights.
      for (const auto& node : weights_file_nodes(out.weights_path))
        point_overrides.push_back(
            parse_override("nodes." + node + ".weights=\"" + fs::absolute(out.weights_path).string() + "\""));
    }
    for (const auto& d : sweep.datasets) {
      const Graph graph = build_graph(load_pipeline_spec(sweep.pipeline, point_overrides, d), catalog);
      EvalOptions o;
      o.dataset = d;
      o.data_root = sweep.data_roots.at(d);
      o.limit = sweep.limit;
      o.device = device;
      o.batching = BatchLimits::defaults_for(device);
      o.precision = precision;
      o.results_dir = args.get("--results", "results/runs");
      o.progress = !args.has("--quiet");
      EvalOutcome out = run_eval(graph, o);
      // The record keeps the point's label, so `ovseg table` names the row by it.
      if (label_sweep_point(out.record, sweep.name, points[i].label)) write_json_atomic(out.record_path, out.record);
      if (study) study->add_record(out.record, fs::path(out.record_path).filename().string());
      std::string line = "mIoU " + percent(out.record["metrics"]["mIoU"]);
      if (out.record.contains("zero_shot")) {
        const auto& z = out.record["zero_shot"];
        line += ", seen " + percent(z["mIoU_seen"]) + ", unseen " + percent(z["mIoU_unseen"]) + ", hIoU " +
                percent(z["hIoU"]);
      }
      std::cout << "[" << i + 1 << "/" << points.size() << "] " << points[i].label << " on " << d << ": " << line
                << (out.already_stored ? " (stored earlier)" : "") << "\n";
      point.records.push_back(std::move(out.record));
    }
    ablation.points.push_back(std::move(point));
  }

  // The ablation as papers print it: one column per axis, then the metric;
  // trained sweeps add each point's training time and peak memory below.
  ComparisonTable table = build_ablation_table(ablation, TableOptions{});
  for (const auto& n : train_notes) table.footer.push_back(n);
  std::cout << "\n" << render_table(table, TableFormat::Markdown);
  // Every format: Markdown to read, LaTeX for the paper, HTML for the report.
  std::vector<std::string> stems;
  if (args.has("--out")) {
    const std::string file = args.get("--out");
    if (!(std::ofstream(file) << render_table(table, table_format_for_file(file, TableFormat::Markdown))))
      throw std::runtime_error("cannot write " + file);
    std::cout << "wrote " << file << "\n";
    stems.push_back((fs::path(file).parent_path() / fs::path(file).stem()).string());
  }
  if (study) stems.push_back((fs::path(study->dir()) / sweep.name).string());
  for (const auto& stem : stems)
    for (const auto& f : write_table_formats(table, stem))
      if (!args.has("--out") || f != args.get("--out")) std::cout << "wrote " << f << "\n";
  return 0;
}

}  // namespace

Command sweep_command() {
  CommandSpec spec;
  spec.name = "sweep";
  spec.summary = "run every point of an ablation grid (stored points are skipped) and print the table";
  spec.usage =
      "SWEEP.toml [--dataset NAME]... [--data-root [NAME=]DIR]... [--limit N] [--results DIR] [--work-dir DIR] [--runs "
      "DIR] [--dry-run]";
  spec.min_positionals = spec.max_positionals = 1;
  spec.options = pipeline_options();
  spec.options.push_back(precision_option());
  spec.options.push_back(
      {"--dataset", "NAME", "evaluate on this data set instead of the sweep's datasets (repeatable)", true});
  spec.options.push_back(
      {"--data-root", "[NAME=]DIR",
       "data root of a data set (repeatable; overrides [data_roots]); a bare DIR when one data set is evaluated",
       true});
  spec.options.push_back({"--limit", "N", "only the first N images of each data set", false});
  spec.options.push_back({"--results", "DIR", "results store (default results/runs)", false});
  spec.options.push_back({"--runs", "DIR",
                          "training runs of a sweep with train = (default runs/sweeps; one folder per trained graph)",
                          false});
  spec.options.push_back(
      {"--out", "FILE",
       "also write the ablation table here (.md, .csv, .tex or .html) and, beside it, as .md, .tex and .html", false});
  spec.options.push_back(
      {"--work-dir", "DIR",
       "experiment folder: the points' records in DIR/records, the table as DIR/<sweep name>.{md,tex,html}", false});
  spec.options.push_back({"--dry-run", "", "validate every point and list them, run nothing", false});
  spec.options.push_back({"--quiet", "", "no progress line", false});
  spec.details =
      "Sweep file format: see host/include/ovseg/host/sweep.hpp and pipelines/sweeps/.\n"
      "With [sweep] train = \"DATASET\" every point is trained first (resumably) and evaluated with its weights.\n"
      "The table again later, from the stored records: ovseg table --rows SWEEP.toml\n"
      "Each point's record keeps its label (\"gaussian_std=3.0\"), which ovseg table shows.";
  return {spec, run_sweep};
}

}  // namespace ovseg::cli
