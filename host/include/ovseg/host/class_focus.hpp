// `ovseg table --focus person[,rider]`: a close look at chosen classes (seed
// 003's question "why is person segmentation poor?") from the confusion
// matrices the eval records store. Per data set and focus class, one row per
// method (pipeline row, as in the comparison tables): IoU, precision
// (TP / predicted), recall (TP / ground truth), the class's ground-truth
// pixels, the classes its pixels were taken for ("missed as", share of its
// ground-truth pixels) and the classes whose pixels were predicted as it
// ("taken from", share of its predicted pixels).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ovseg/host/tables.hpp"

namespace ovseg {

struct ClassFocusOptions {
  std::vector<std::string> classes;   // display names or synonyms, case-insensitive
  std::vector<std::string> datasets;  // short or harness names; empty = every data set in the records
  int top_confusions = 3;             // classes listed per "missed as" / "taken from" cell
  int decimals = 1;
  TableFormat format = TableFormat::Markdown;  // Markdown or Csv
};

// One focus class on one data set: a row per method (pipeline row).
struct ClassFocusRow {
  std::string method;
  double iou = 0, precision = 0, recall = 0;  // fractions; NaN where undefined (no pixels)
  long long gt_pixels = 0, pred_pixels = 0;
  // The largest off-diagonal shares, largest first: the classes the focus
  // class's ground-truth pixels were predicted as, and the classes whose
  // pixels were predicted as it (fractions of its GT / predicted pixels).
  std::vector<std::pair<std::string, double>> missed_as, taken_from;
};
struct ClassFocusTable {
  std::string dataset;     // harness name
  std::string class_name;  // the data set's display name
  std::vector<ClassFocusRow> rows;
};

// The tables behind render_class_focus (also the HTML report's focus
// sections), data sets in column order, classes in the order asked. Same
// errors as render_class_focus; `skipped` receives the shard records left out.
std::vector<ClassFocusTable> class_focus_tables(const std::vector<nlohmann::json>& records,
                                                const ClassFocusOptions& options, int* skipped = nullptr);

// Throws std::invalid_argument when a focus class is in none of the
// records' data sets (naming it and the data sets searched), for a format
// other than Markdown or CSV, or when a record's confusion matrix does not
// match its class list.
std::string render_class_focus(const std::vector<nlohmann::json>& records, const ClassFocusOptions& options);

}  // namespace ovseg
