// `ovseg eval PIPELINE.toml --dataset NAME --data-root DIR`: a pipeline over a
// benchmark under the harness protocol; stores one JSON record per run and
// resumes an interrupted run from its checkpoint.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <tuple>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include "commands.hpp"
#include "ovseg/host/device.hpp"
#include "ovseg/host/eval_run.hpp"
#include "ovseg/host/graph.hpp"
#include "ovseg/host/plugin_loader.hpp"
#include "ovseg/host/study.hpp"
#include "ovseg/host/tables.hpp"
#include "ovseg/models/shared_clip.hpp"

namespace ovseg::cli {

namespace {

namespace fs = std::filesystem;

// The pipelines a command names: each argument is a pipeline file, or
// @LIST, a text file of pipeline files (one a line, '#' comments, paths
// relative to the list file's folder).
std::vector<std::string> pipeline_arguments(const std::vector<std::string>& positionals) {
  std::vector<std::string> out;
  for (const auto& p : positionals) {
    if (p.empty() || p[0] != '@') {
      out.push_back(p);
      continue;
    }
    const std::string list = p.substr(1);
    std::ifstream in(list);
    if (!in) throw UsageError("ovseg eval: cannot read the pipeline list " + list);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      if (const auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
      line.erase(0, line.find_first_not_of(" \t\r"));
      line.erase(line.find_last_not_of(" \t\r") + 1);
      if (line.empty()) continue;
      const fs::path file = fs::path(line).is_absolute() ? fs::path(line) : fs::path(list).parent_path() / line;
      if (!fs::is_regular_file(file))
        throw UsageError("ovseg eval: " + list + ":" + std::to_string(n) + ": pipeline " + file.string() +
                         " not found");
      out.push_back(file.lexically_normal().string());
    }
  }
  if (out.empty()) throw UsageError("ovseg eval: no pipeline given (the list files are empty)");
  return out;
}

EvalOptions eval_options(const ParsedArgs& args) {
  if (!args.has("--dataset")) throw UsageError("ovseg eval: --dataset NAME is required");
  if (!args.has("--data-root")) throw UsageError("ovseg eval: --data-root DIR is required");
  EvalOptions o;
  o.dataset = args.get("--dataset");
  o.data_root = args.get("--data-root");
  o.split = args.get("--split", "val");
  if (args.has("--limit")) o.limit = parse_count("eval", "--limit", args.get("--limit"));
  if (args.has("--shard")) {
    try {
      std::tie(o.shard_index, o.shard_count) = parse_shard(args.get("--shard"));
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("ovseg eval: ") + e.what());
    }
  }
  if (args.has("--checkpoint-every"))
    o.checkpoint_every = static_cast<int>(
        std::max(1L, parse_count("eval", "--checkpoint-every", args.get("--checkpoint-every"))));
  o.device = args.get("--device", default_device());
  o.batching = BatchLimits::defaults_for(o.device);
  if (args.has("--batch-windows"))
    o.batching.windows = static_cast<int>(
        std::min(1'000'000L, parse_count("eval", "--batch-windows", args.get("--batch-windows"))));
  if (args.has("--batch-memory-mb"))
    o.batching.memory_mb = parse_real("eval", "--batch-memory-mb", args.get("--batch-memory-mb"));
  o.save_predictions = args.get("--save-predictions");
  o.precision = precision_arg("eval", args);
  o.results_dir = args.get("--results", "results/runs");
  o.progress = !args.has("--quiet");
  o.force = args.has("--force");
  if (args.has("--unseen")) {
    try {
      o.zero_shot = harness::parse_unseen_argument(args.get("--unseen"));
    } catch (const std::exception& e) {
      throw UsageError(std::string("ovseg eval: ") + e.what());
    }
  }
  // Test hook (tests/eval): SIGKILL the process after N images, as a crash would.
  if (const char* k = std::getenv("OVSEG_EVAL_KILL_AFTER")) o.kill_after = std::atol(k);
  return o;
}

void print_outcome(const EvalOutcome& out) {
  const auto& r = out.record;
  if (out.already_stored) std::cout << "already stored (use --force to run again): " << out.record_path << "\n";
  std::cout << "pipeline '" << r["pipeline"]["name"].get<std::string>() << "' on "
            << r["dataset"]["name"].get<std::string>() << " " << r["dataset"]["split"].get<std::string>() << ": "
            << r["selection"]["num_images"] << " images";
  if (out.resumed_images) std::cout << " (" << out.resumed_images << " from a checkpoint)";
  const auto num = [](const nlohmann::json& v) {
    char buf[32];
    if (!v.is_number()) return std::string("n/a");
    std::snprintf(buf, sizeof buf, "%.2f", v.get<double>());
    return std::string(buf);
  };
  const auto& m = r["metrics"];
  std::cout << "\n  mIoU " << num(m["mIoU"]) << "  mAcc " << num(m["mAcc"]) << "  aAcc " << num(m["aAcc"]) << "  fwIoU "
            << num(m["fwIoU"]);
  if (r.contains("boundary"))
    std::cout << "\n  boundary (trimap) mIoU " << num(r["boundary"]["mIoU"])
              << "  (pixels within 2% of the image diagonal of a ground-truth edge)";
  if (r.contains("zero_shot"))
    std::cout << "\n  seen " << num(r["zero_shot"]["mIoU_seen"]) << "  unseen " << num(r["zero_shot"]["mIoU_unseen"])
              << "  hIoU " << num(r["zero_shot"]["hIoU"]) << "  (" << r["zero_shot"]["unseen"].size()
              << " unseen classes: " << r["zero_shot"]["source"].get<std::string>() << ")";
  std::cout << "\n  " << num(r["timings"]["per_image_ms"]) << " ms/image\n";
  for (const auto& w : r["warnings"]) std::cerr << "warning: " << w.get<std::string>() << "\n";
  std::cout << (out.already_stored ? "record " : "wrote ") << out.record_path << "\n";
}

// The study's table in every format, from every record of the folder.
void write_study_tables(const StudyFolder& study) {
  const std::vector<nlohmann::json> records = study.records();
  if (records.empty()) return;
  const ComparisonTable table = build_table(records, TableOptions{});
  for (const auto& f : write_table_formats(table, (fs::path(study.dir()) / "table").string()))
    std::cout << "wrote " << f << "\n";
}

int run_eval_cmd(const ParsedArgs& args) {
  const EvalOptions options = eval_options(args);
  const std::vector<std::string> pipelines = pipeline_arguments(args.positionals);
  std::optional<StudyFolder> study;
  if (args.has("--work-dir")) {
    study.emplace(args.get("--work-dir"));
    study->log_command(command_text("eval", args));
  }
  // One catalog (plugins loaded once) and, while this lives, one loaded copy
  // of each model for every pipeline of the command.
  PluginCatalog catalog = load_catalog(args);
  const models::KeepSharedModels keep_models;
  std::vector<std::string> failed;
  for (size_t i = 0; i < pipelines.size(); ++i) {
    const std::string& file = pipelines[i];
    EvalOptions o = options;
    // Several pipelines' labels go to one subfolder each.
    if (pipelines.size() > 1 && !o.save_predictions.empty())
      o.save_predictions = (fs::path(o.save_predictions) / fs::path(file).stem()).string();
    if (pipelines.size() > 1) std::cout << "[" << i + 1 << "/" << pipelines.size() << "] " << file << "\n";
    try {
      Graph graph = build_graph(load_spec(file, args), catalog);
      const EvalOutcome out = run_eval(graph, o);
      print_outcome(out);
      if (study) study->add_record(out.record, fs::path(out.record_path).filename().string());
    } catch (const UsageError&) {
      throw;
    } catch (const std::exception& e) {
      // One pipeline's failure does not cost the others' runs: they are
      // stored (and listed in the study) and the command ends with exit 1.
      if (pipelines.size() == 1) throw;
      // As main() prints it, with the pipeline named unless the message does.
      const std::string message = e.what();
      std::cerr << (message.find(file) == std::string::npos ? file + ": " : "") << message << "\n";
      failed.push_back(file);
    }
  }
  if (study) write_study_tables(*study);
  if (!failed.empty()) {
    std::cerr << "ovseg eval: " << failed.size() << " of " << pipelines.size() << " pipelines failed:";
    for (const auto& f : failed) std::cerr << " " << f;
    std::cerr << " (the others' records are stored)\n";
    return 1;
  }
  return 0;
}

}  // namespace

Command eval_command() {
  CommandSpec spec;
  spec.name = "eval";
  spec.summary = "evaluate a pipeline on a benchmark; stores a results record";
  spec.usage =
      "PIPELINE.toml... | @LIST --dataset NAME --data-root DIR [--split val] [--limit N] [--shard i/N] [--work-dir "
      "DIR] ...";
  spec.min_positionals = 1;
  spec.max_positionals = static_cast<size_t>(-1);
  spec.options = pipeline_options();
  spec.options.push_back(precision_option());
  spec.options.push_back({"--dataset", "NAME",
                          "voc21, voc20, context59, context60, coco_stuff171, coco_object, ade20k, cityscapes, lip, "
                          "cihp, pascal_person_part, folder (= world: ovseg's own layout)",
                          false});
  spec.options.push_back({"--data-root", "DIR", "the data set's folder (official layout)", false});
  spec.options.push_back({"--split", "SPLIT", "data split (default val)", false});
  spec.options.push_back({"--limit", "N", "only the first N images", false});
  spec.options.push_back({"--shard", "i/N", "only images i, i+N, i+2N, ... (merge shards with ovseg merge)", false});
  spec.options.push_back({"--save-predictions", "DIR", "write each image's labels as DIR/<id>.png", false});
  spec.options.push_back({"--results", "DIR", "results store (default results/runs)", false});
  spec.options.push_back({"--work-dir", "DIR",
                          "experiment folder: also list the records in DIR/records, write DIR/table.{md,tex,html}",
                          false});
  spec.options.push_back({"--checkpoint-every", "N", "images between checkpoints (default 10)", false});
  spec.options.push_back({"--batch-windows", "N",
                          "windows per batch across images (default " +
                              std::to_string(BatchLimits::kDefaultCpuWindows) + " on the CPU, " +
                              std::to_string(BatchLimits::kDefaultCudaWindows) +
                              " on CUDA, under --batch-memory-mb; 0 = one image's windows per batch); labels do "
                              "not change",
                          false});
  spec.options.push_back({"--batch-memory-mb", "MB",
                          "cap on one batch's window-phase tensors, measured (default " +
                              std::to_string(static_cast<int>(BatchLimits::kDefaultMemoryMb)) + "; 0 = none)",
                          false});
  spec.options.push_back({"--quiet", "", "no progress line", false});
  spec.options.push_back({"--force", "", "run again even if the record is already stored", false});
  spec.options.push_back({"--unseen", "FILE|a,b|none",
                          "seen/unseen split to report (mIoU seen, unseen, hIoU); default: the data set's declared one",
                          false});
  spec.details =
      "The [protocol] table of the pipeline decides resizing and windows (mode, short_side,\n"
      "max_long_side, window, stride) and background (prob_thd, area_thd); see\n"
      "host/include/ovseg/host/protocol.hpp. The pipeline's [datasets.NAME] tables (its\n"
      "authors' settings for that data set) apply before --unset / --set. The classes are the\n"
      "data set's: a pipeline naming others fails on the first image unless it declares\n"
      "[vocabulary] map (README \"Evaluating and tables\").\n"
      "Windows of several images run through the window phase as one batch (--batch-windows,\n"
      "--batch-memory-mb; window_batcher.hpp): the labels are the same under any limits, which\n"
      "are therefore not part of the record's key.\n"
      "The record is RESULTS/<pipeline>__<dataset>__<split>__<toml-hash>[__limitN][__shardIofN][__bf16].json.\n"
      "While running, RESULTS/<same>.partial.json holds the confusion matrix so far: running the\n"
      "same command again after an interruption continues from it; once the record exists, the\n"
      "same command reports it instead of running again (--force reruns).\n"
      "Several pipelines (or @LIST, a file of pipeline paths one a line) run one after another\n"
      "with one plugin catalog and one loaded copy of each model; a pipeline that fails is\n"
      "reported and skipped (exit 1 at the end), the others' records are stored.\n"
      "--work-dir DIR (as mmseg's work_dirs) groups one study: the records this command ran or\n"
      "found stored are copied to DIR/records, the command is appended to DIR/commands.txt and\n"
      "DIR/table.{md,tex,html} show every record of the study (ovseg table --work-dir DIR).";
  return {spec, run_eval_cmd};
}

}  // namespace ovseg::cli
