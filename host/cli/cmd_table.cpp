// `ovseg table`: comparison tables (Markdown, CSV, LaTeX) and the HTML
// report from the stored eval records, optionally beside published numbers.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "ovseg/host/benchmark_names.hpp"
#include "ovseg/host/class_focus.hpp"
#include "ovseg/host/precision.hpp"
#include "ovseg/host/report.hpp"
#include "ovseg/host/results_store.hpp"
#include "ovseg/host/study.hpp"
#include "ovseg/host/table_layout.hpp"
#include "ovseg/host/tables.hpp"
#include "ovseg/sdk/data_dir.hpp"

namespace fs = std::filesystem;

namespace ovseg::cli {

namespace {

// The data folder's copy (found relative to the binary, ovseg/sdk/data_dir.hpp).
std::string default_published_dir() { return data_path("results/published"); }

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

int run_table(const ParsedArgs& args) {
  TableOptions o;
  const std::string out_file = args.get("--out");
  // A sweep table shows one precision's records (--precision, default fp32).
  std::string sweep_precision = "fp32";
  try {
    o.format = args.has("--format") ? parse_table_format(args.get("--format"))
                                    : table_format_for_file(out_file, TableFormat::Markdown);
    if (args.has("--precision")) sweep_precision = to_string(parse_precision(args.get("--precision")));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("ovseg table: ") + e.what());
  }
  TableLayout layout;
  if (args.has("--rows")) layout = load_table_layout(args.get("--rows"));
  // The layout's settings, then the command line's.
  o.groups = layout.groups;
  if (!layout.datasets.empty()) o.datasets = layout.datasets;
  if (!layout.metric.empty()) o.metric = layout.metric;
  if (!layout.avg.empty()) o.avg = layout.avg;
  o.avg_over = layout.avg_over;
  if (layout.decimals >= 0) o.decimals = layout.decimals;
  o.caption = layout.caption;
  if (args.has("--metric")) o.metric = args.get("--metric");
  if (args.has("--datasets")) {
    o.datasets = split_list(args.get("--datasets"));
    // The layout's Avg list stays only while its data sets are all columns.
    const auto canonical = [](const std::vector<std::string>& names) {
      std::vector<std::string> out;
      for (const auto& n : names) {
        try {
          out.push_back(dataset_from_column_name(n));
        } catch (const std::invalid_argument& e) {
          throw UsageError(std::string("ovseg table: ") + e.what());
        }
      }
      return out;
    };
    const auto columns = canonical(o.datasets);
    for (const auto& d : canonical(o.avg_over))
      if (std::find(columns.begin(), columns.end(), d) == columns.end()) o.avg_over.clear();
  }
  if (args.has("--avg")) {
    const std::string avg = args.get("--avg");
    const bool mode = avg == "common" || avg == "all" || avg == "none";
    o.avg = mode ? avg : "common";
    o.avg_over = mode ? std::vector<std::string>{} : split_list(avg);
  }
  if (args.has("--decimals")) o.decimals = static_cast<int>(parse_count("table", "--decimals", args.get("--decimals")));
  if (args.has("--caption")) o.caption = args.get("--caption");
  o.per_class_dataset = args.get("--per-class");
  if (args.has("--classes")) o.classes = split_list(args.get("--classes"));
  o.with_published = args.has("--with-published");
  if (o.with_published || layout.names_published()) {
    o.published = load_published(args.get("--published", default_published_dir()));
    if (args.has("--backbone") && o.groups.empty()) {
      const std::string b = args.get("--backbone");
      o.published.erase(std::remove_if(o.published.begin(), o.published.end(),
                                       [&](const PublishedRow& p) { return p.backbone != b; }),
                        o.published.end());
    }
  }

  // The study's records (--work-dir), then each --results folder, record
  // file or glob; the default store only when neither is given.
  std::vector<std::string> sources;
  if (args.has("--work-dir")) {
    const fs::path records_dir = fs::path(args.get("--work-dir")) / "records";
    if (!fs::is_directory(records_dir))
      throw std::runtime_error("--work-dir " + args.get("--work-dir") + ": no experiment folder there (no " +
                               records_dir.string() + "; ovseg eval/sweep --work-dir make one)");
    sources.push_back(records_dir.string());
  }
  for (const auto& r : args.all("--results")) sources.push_back(r);
  if (sources.empty()) sources.push_back("results/runs");
  std::vector<nlohmann::json> records = load_records_from(sources);
  std::string where;
  for (const auto& d : sources) where += (where.empty() ? "" : ", ") + d;
  if (records.empty() && !o.with_published) throw std::runtime_error("no eval records in " + where);

  if (args.has("--focus") && o.format != TableFormat::Html) {
    ClassFocusOptions fo;
    fo.classes = split_list(args.get("--focus"));
    fo.datasets = o.datasets;
    fo.decimals = o.decimals;
    fo.format = o.format;
    if (args.has("--top")) fo.top_confusions = static_cast<int>(parse_count("table", "--top", args.get("--top")));
    std::string text;
    try {
      text = render_class_focus(records, fo);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("ovseg table: ") + e.what());
    }
    if (out_file.empty()) {
      std::cout << text;
    } else {
      if (fs::path(out_file).has_parent_path()) fs::create_directories(fs::path(out_file).parent_path());
      std::ofstream out(out_file);
      if (!(out << text)) throw std::runtime_error("cannot write " + out_file);
      std::cerr << "wrote " << out_file << "\n";
    }
    return 0;
  }

  // A sweep evaluated on other data sets than its file names (ovseg sweep
  // --dataset): --datasets says which to match.
  if (layout.sweep && args.has("--datasets")) {
    layout.sweep->datasets.clear();
    for (const auto& d : o.datasets) layout.sweep->datasets.push_back(dataset_from_column_name(d));
  }
  ComparisonTable table;
  try {
    table = layout.sweep ? build_ablation_table(ablation_from_records(*layout.sweep, records, sweep_precision), o)
                         : build_table(records, o);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("ovseg table: ") + e.what());
  }
  std::string text;
  if (o.format == TableFormat::Html) {
    ReportOptions ro;
    ro.baseline = args.get("--baseline");
    ro.methods = split_list(args.get("--methods"));
    ro.rule = args.get("--images", "random:0");
    if (args.has("--num-images"))
      ro.images = static_cast<int>(parse_count("table", "--num-images", args.get("--num-images")));
    ro.focus = split_list(args.get("--focus"));  // focus sections first, then the whole report
    if (args.has("--top")) ro.focus_top = static_cast<int>(parse_count("table", "--top", args.get("--top")));
    try {
      check_image_rule(ro.rule);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("ovseg table: ") + e.what());
    }
    try {
      text = render_report(table, ro);
    } catch (const std::invalid_argument& e) {  // a focus class no data set has
      throw UsageError(std::string("ovseg table: ") + e.what());
    }
  } else {
    text = render_table(table, o.format);
  }
  if (!out_file.empty()) {
    if (fs::path(out_file).has_parent_path()) fs::create_directories(fs::path(out_file).parent_path());
    std::ofstream out(out_file);
    if (!(out << text)) throw std::runtime_error("cannot write " + out_file);
    std::cerr << "wrote " << out_file << "\n";
  } else {
    std::cout << text;
  }
  return 0;
}

}  // namespace

Command table_command() {
  CommandSpec spec;
  spec.name = "table";
  spec.summary = "paper-style tables (md, csv, latex) and the HTML report from stored eval records";
  spec.usage =
      "[--results DIR|FILE|GLOB]... [--work-dir DIR] [--rows FILE] [--precision P] [--with-published] [--metric M] "
      "[--format FMT] "
      "[--out FILE]";
  spec.options = {
      {"--results", "DIR", "results folder, record file or glob of either (default results/runs; repeatable)", true},
      {"--work-dir", "DIR", "the records of the experiment folder DIR (ovseg eval/sweep --work-dir)", false},
      {"--format", "FMT", "md, csv, latex or html (default: from --out's extension, else md)", false},
      {"--out", "FILE", "write to FILE instead of stdout", false},
      {"--metric", "M", "mIoU (default), mAcc, aAcc, fwIoU or hIoU", false},
      {"--rows", "FILE", "row order and groups: a layout TOML, a demo file, a sweep file (ablation) or a name list",
       false},
      {"--precision", "P", "with a sweep file in --rows: the records run in P (fp32 default, bf16, fp16)", false},
      {"--datasets", "LIST", "data set columns in this order, e.g. VOC21,PC60,Object (short or harness names)", false},
      {"--avg", "HOW", "Avg column: common (default), all, none, or a list of data sets", false},
      {"--decimals", "N", "digits after the point (default 1)", false},
      {"--caption", "TEXT", "caption instead of the generated one", false},
      {"--per-class", "DATASET", "columns = that data set's classes", false},
      {"--classes", "LIST", "per-class: only these classes", false},
      {"--focus", "LIST",
       "class focus: per method IoU, precision, recall and confusions of these classes, e.g. person (md, csv; html: "
       "sections with the images where each is worst)",
       false},
      {"--top", "N", "focus: confused classes listed per cell (default 3)", false},
      {"--with-published", "", "add the papers' published rows (results/published) and Δ for reproductions", false},
      {"--published", "PATH", "published results folder or file (default: results/published in the data folder)",
       false},
      {"--backbone", "B", "only published rows of this backbone, e.g. ViT-B/16", false},
      {"--baseline", "ROW", "html: the heat map's Δ baseline (default: the first row)", false},
      {"--methods", "LIST", "html: the qualitative grid's methods (default: every row, at most 10)", false},
      {"--images", "RULE", "html: random:SEED (default random:0), worst[:CLASS] or disagree[:A,B]", false},
      {"--num-images", "N", "html: images in the qualitative grid (default 6)", false}};
  spec.details =
      "Rows are pipelines (one per resolved TOML and limit), columns data sets by their short\n"
      "names (VOC21, PC60, Object, VOC20, PC59, Stuff, City, ADE, world), cells the metric; best\n"
      "bold, second underlined. Runs of one pipeline under different protocol knobs become\n"
      "separate rows tagged with the knobs that differ; every row's protocol is listed under\n"
      "the table. Layout files: host/include/ovseg/host/table_layout.hpp; NACLIP's Table 1:\n"
      "  ovseg table --rows results/layouts/naclip_table1.toml --format latex";
  return {spec, run_table};
}

}  // namespace ovseg::cli
