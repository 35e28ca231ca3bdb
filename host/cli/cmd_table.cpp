// `ovseg table`: comparison tables (Markdown, CSV, LaTeX, HTML) from the
// stored eval records.
#include <fstream>
#include <iostream>

#include "commands.hpp"
#include "ovseg/host/results_store.hpp"
#include "ovseg/host/tables.hpp"

namespace ovseg::cli {

namespace {

int run_table(const ParsedArgs& args) {
  TableOptions o;
  try {
    o.format = parse_table_format(args.get("--format", "md"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("ovseg table: ") + e.what());
  }
  o.per_class_dataset = args.get("--per-class");
  const auto records = load_records(args.get("--results", "results/runs"));
  if (records.empty()) throw std::runtime_error("no eval records in " + args.get("--results", "results/runs"));
  const std::string text = render_table(build_table(records, o), o.format);
  if (args.has("--out")) {
    std::ofstream out(args.get("--out"));
    if (!(out << text)) throw std::runtime_error("cannot write " + args.get("--out"));
    std::cerr << "wrote " << args.get("--out") << "\n";
  } else {
    std::cout << text;
  }
  return 0;
}

}  // namespace

Command table_command() {
  CommandSpec spec;
  spec.name = "table";
  spec.summary = "comparison table (md, csv, latex, html) from stored eval records";
  spec.usage = "[--results DIR] [--format md|csv|latex|html] [--per-class DATASET] [--out FILE]";
  spec.options = {{"--results", "DIR", "results store (default results/runs)", false},
                  {"--format", "FMT", "md (default), csv, latex or html (self-contained, per-class bars)", false},
                  {"--per-class", "DATASET", "columns = that data set's classes (IoU)", false},
                  {"--out", "FILE", "write to FILE instead of stdout", false}};
  spec.details =
      "Rows are pipelines (one per resolved TOML and limit), columns data sets, cells mIoU.\n"
      "Runs of one pipeline under different protocol knobs become separate rows tagged with\n"
      "the knobs that differ; every row's protocol is listed under the table.";
  return {spec, run_table};
}

}  // namespace ovseg::cli
