// Comparison tables from stored eval records, laid out as papers print them.
//
// Three kinds, one model (ComparisonTable) and four renderers:
//   - data sets: rows = methods, columns = benchmarks by their short names
//     (VOC21, PC60, Object, ...; benchmark_names.hpp), an Avg column, the
//     zero-shot literature's seen / unseen / hIoU where records have a split,
//     published reference rows (published.hpp) and a Δ column for a
//     reproduced row that names its published counterpart;
//   - per class: rows = methods, columns = one data set's classes;
//   - ablation: one column per swept axis (✓/✗ for booleans) + metrics.
// Every numeric column is ranked: the best value is bold and the second
// underlined (Markdown: bold and italics), at the printed precision.
//
// Numbers measured under different conditions are never merged into one row:
// a record row is one (pipeline name, resolved-TOML sha256, limit). Rows
// sharing a name are tagged with what differs between them (the protocol
// knobs, the image limit, else the pipeline hash) and every row's protocol
// is printed under the table. Shard records are left out (merge them with
// `ovseg merge`).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ovseg/host/published.hpp"

namespace ovseg {

enum class TableFormat { Markdown, Csv, Latex, Html };
// "md"/"markdown", "csv", "latex"/"tex", "html"; throws std::invalid_argument.
TableFormat parse_table_format(const std::string& name);
// The format a file name asks for by its extension (.md, .csv, .tex, .html);
// `fallback` for anything else.
TableFormat table_format_for_file(const std::string& path, TableFormat fallback);

// One entry of a row layout: the record rows of a pipeline (by its
// [pipeline] name), or a published row placed here (pipeline empty), or
// both: the pipeline's rows get a Δ against that published row.
struct RowEntry {
  std::string pipeline;
  std::string published;  // a PublishedRow id
  std::string label;      // printed instead of the pipeline / method name
};

struct RowGroup {
  std::string name;  // printed as a group header row; "" = none
  std::vector<RowEntry> rows;
};

struct TableOptions {
  TableFormat format = TableFormat::Markdown;  // what the caller renders (build ignores it)
  std::string per_class_dataset;               // non-empty: rows x classes of this data set
  int decimals = 1;
  // mIoU, mAcc, aAcc, fwIoU or hIoU (the zero-shot harmonic mean).
  std::string metric = "mIoU";
  // Data set columns (harness or short names), in this order; empty = every
  // data set a shown row has, in the papers' order.
  std::vector<std::string> datasets;
  // Per-class tables: only these classes (empty = all).
  std::vector<std::string> classes;
  // The Avg column: "common" (default: over the data sets every row has, when
  // there are at least two), "all" (over every data set column; rows lacking
  // one get none) or "none"; a non-empty avg_over (data sets, harness or
  // short names) names the data sets instead.
  std::string avg = "common";
  std::vector<std::string> avg_over;
  // Row order and groups. Empty: record rows in the order they were first
  // evaluated, published rows (if any) first, grouped by their paper's group.
  // Non-empty: exactly these rows; stored pipelines not named are listed in
  // the footer.
  std::vector<RowGroup> groups;
  // Reference rows to add. Without `groups` every one with a number in a
  // shown column is added; with `groups` only those the layout places. A
  // record row whose pipeline a published row lists in reproduced_by gets a
  // Δ against it.
  std::vector<PublishedRow> published;
  bool with_published = false;  // add `published` rows (without groups)
  std::string caption;          // replaces the generated caption
};

enum class ColumnKind { Label, Axis, Metric, Average, Delta };

struct TableColumn {
  ColumnKind kind = ColumnKind::Metric;
  std::string header;      // as printed: "VOC21", "seen", "Avg", "Δ", "gaussian_std"
  std::string group;       // spanning header above ("VOC20" over mIoU / seen / ...), or ""
  std::string dataset;     // canonical data set of a Metric column
  std::string metric;      // mIoU, mAcc, aAcc, fwIoU, seen, unseen, hIoU, IoU, Acc
  std::string class_name;  // per-class columns
  bool ranked = false;     // best / second are marked
  // "VOC20 seen" for a grouped column, else the header.
  std::string flat_header() const { return group.empty() || group == header ? header : group + " " + header; }
};

struct TableCell {
  std::string text;             // as printed, without marks ("64.1", "✓", "-")
  std::optional<double> value;  // numeric columns
  int rank = 0;                 // 1 = best in its column, 2 = second, 0 = neither
  std::string note;             // shown on hover in HTML (e.g. Δ per data set)
};

struct TableRow {
  std::string label;
  std::string group;                    // the row group it is printed under ("" = none)
  bool published = false;               // a reference row from a paper
  std::string cite;                     // its citation key
  std::string counterpart;              // published row id a Δ is taken against
  std::vector<TableCell> cells;         // one per column
  std::vector<nlohmann::json> records;  // records shown (record rows)
};

struct ComparisonTable {
  std::string kind = "datasets";  // "datasets", "per-class", "ablation"
  std::string title;              // "mIoU (%)"
  std::string caption;            // one paragraph: metric, protocol, marks
  std::string metric = "mIoU";
  std::string dataset;  // per-class: its data set
  int decimals = 1;
  std::vector<TableColumn> columns;
  std::vector<TableRow> rows;
  std::vector<std::string> footer;  // protocol lines, citations, notes
  // Ablation: the swept axes (paths) and, per row, its value of each.
  std::vector<std::string> axes;
  std::vector<std::vector<std::string>> axis_values;

  std::vector<std::string> header() const;  // flat headers
  std::vector<std::string> row_text(size_t row) const;
  int column(const std::string& flat_header) const;  // index or -1
};

ComparisonTable build_table(const std::vector<nlohmann::json>& records, const TableOptions& options);

// Ablations: each point's axis values (TOML text, as in the sweep file) and
// its records (one per data set).
struct AblationPoint {
  std::vector<std::string> values;
  std::vector<nlohmann::json> records;
};
struct AblationInput {
  std::string name;                   // the sweep's name (table title)
  std::vector<std::string> axes;      // paths, e.g. "nodes.refine.gaussian_std"
  std::vector<AblationPoint> points;  // in sweep order
};
ComparisonTable build_ablation_table(const AblationInput& input, const TableOptions& options);

// Markdown, CSV, LaTeX (a complete `table` environment: booktabs, caption,
// label; needs \usepackage{booktabs} and, for ✓/✗, amssymb) or HTML (the
// report of report.hpp with default options).
std::string render_table(const ComparisonTable& table, TableFormat format);

}  // namespace ovseg
