// Comparison tables from stored eval records: rows = pipelines, columns =
// data sets (or, with per_class_dataset, that data set's classes), cells =
// mIoU (per-class IoU) in percent.
//
// Numbers measured under different conditions are never merged into one row:
// a row is one (pipeline name, resolved-TOML sha256, limit). Rows sharing a
// name are tagged with what differs between them (the protocol knobs, the
// image limit, else the pipeline hash) and every row's protocol is printed
// in a footer. Shard records are left out (merge them with `ovseg merge`).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ovseg {

enum class TableFormat { Markdown, Csv, Latex, Html };
// "md"/"markdown", "csv", "latex"/"tex", "html"; throws std::invalid_argument.
TableFormat parse_table_format(const std::string& name);

struct TableOptions {
  TableFormat format = TableFormat::Markdown;
  std::string per_class_dataset;  // non-empty: rows x classes of this data set
  int decimals = 1;
};

// The plain table before rendering (exposed for tests).
struct ComparisonTable {
  std::string title;
  std::vector<std::string> header;             // first column = "pipeline"
  std::vector<std::vector<std::string>> rows;  // cells as rendered text
  std::vector<std::string> footer;             // protocol lines, notes
  // For the HTML report: per row, the records shown (one per column used).
  std::vector<std::vector<nlohmann::json>> row_records;
};

ComparisonTable build_table(const std::vector<nlohmann::json>& records, const TableOptions& options);
std::string render_table(const ComparisonTable& table, TableFormat format);

}  // namespace ovseg
