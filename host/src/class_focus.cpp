// The class-focus table (class_focus.hpp): per-class IoU, precision, recall
// and confusions read back from the records' stored confusion matrices.
#include "ovseg/host/class_focus.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <stdexcept>

#include "ovseg/harness/confusion_matrix.hpp"
#include "ovseg/host/benchmark_names.hpp"
#include "table_records.hpp"

namespace ovseg {

namespace {

using nlohmann::json;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string pct(double v, int decimals) {
  if (!std::isfinite(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, 100.0 * v);
  return buf;
}

// The class index for a focus name in a data set's display names; a name
// also matches a synonym listed after the display name ("person, people"
// in a class-name file) when records carry them. -1 when absent.
int find_class(const std::vector<std::string>& names, const std::string& wanted) {
  const std::string w = lower(wanted);
  for (size_t i = 0; i < names.size(); ++i) {
    if (lower(names[i]) == w) return static_cast<int>(i);
  }
  return -1;
}

// The `top` largest off-diagonal shares of `total`, largest first.
std::vector<std::pair<std::string, double>> top_shares(const std::vector<std::pair<long long, int>>& counts,
                                                       long long total, const std::vector<std::string>& names,
                                                       int top) {
  std::vector<std::pair<long long, int>> sorted = counts;
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  std::vector<std::pair<std::string, double>> out;
  for (const auto& [n, cls] : sorted) {
    if (n <= 0 || static_cast<int>(out.size()) >= top || total <= 0) break;
    out.push_back({names[static_cast<size_t>(cls)], static_cast<double>(n) / static_cast<double>(total)});
  }
  return out;
}

// "background 12.3, dog 4.0"
std::string shares_text(const std::vector<std::pair<std::string, double>>& shares, int decimals) {
  std::string out;
  for (const auto& [name, share] : shares) out += (out.empty() ? "" : ", ") + name + " " + pct(share, decimals);
  return out.empty() ? "-" : out;
}

ClassFocusRow focus_row(const std::string& method, const json& record, int cls, const std::vector<std::string>& names,
                        const ClassFocusOptions& o) {
  const auto cm = harness::ConfusionMatrix::from_json(record.at("confusion_matrix"));
  const int k = cm.num_classes();
  if (k != static_cast<int>(names.size()))
    throw std::invalid_argument("record '" + record.value("key", std::string("?")) + "': confusion matrix has " +
                                std::to_string(k) + " classes, its data set lists " + std::to_string(names.size()));
  ClassFocusRow r;
  r.method = method;
  const long long tp = cm.at(cls, cls), gt = cm.gt_count(cls), pred = cm.pred_count(cls);
  r.gt_pixels = gt;
  r.pred_pixels = pred;
  r.iou = gt + pred - tp > 0 ? static_cast<double>(tp) / static_cast<double>(gt + pred - tp) : NAN;
  r.precision = pred > 0 ? static_cast<double>(tp) / static_cast<double>(pred) : NAN;
  r.recall = gt > 0 ? static_cast<double>(tp) / static_cast<double>(gt) : NAN;
  std::vector<std::pair<long long, int>> missed, taken;
  for (int j = 0; j < k; ++j) {
    if (j == cls) continue;
    missed.push_back({cm.at(cls, j), j});
    taken.push_back({cm.at(j, cls), j});
  }
  r.missed_as = top_shares(missed, gt, names, o.top_confusions);
  r.taken_from = top_shares(taken, pred, names, o.top_confusions);
  return r;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

std::vector<ClassFocusTable> class_focus_tables(const std::vector<json>& records, const ClassFocusOptions& o,
                                                int* skipped_out) {
  if (o.classes.empty()) throw std::invalid_argument("--focus needs at least one class name");
  std::set<std::string> wanted_datasets;
  for (const auto& d : o.datasets) wanted_datasets.insert(dataset_from_column_name(d));
  int skipped = 0;
  const auto rows = tables::group_record_rows(records, &skipped);
  if (skipped_out) *skipped_out = skipped;

  // Data sets in column order, each with its class names (from any record).
  std::map<std::string, std::vector<std::string>> dataset_classes;
  for (const auto& row : rows)
    for (const auto& [ds, rec] : row.by_dataset)
      if (wanted_datasets.empty() || wanted_datasets.count(ds))
        dataset_classes.emplace(ds, rec.at("dataset").at("class_names").get<std::vector<std::string>>());
  std::vector<std::string> datasets;
  for (const auto& [ds, names] : dataset_classes) datasets.push_back(ds);
  std::stable_sort(datasets.begin(), datasets.end(), [](const std::string& a, const std::string& b) {
    return dataset_column_rank(a) < dataset_column_rank(b);
  });

  std::vector<ClassFocusTable> out;
  std::set<std::string> found;
  for (const std::string& ds : datasets) {
    const auto& names = dataset_classes.at(ds);
    for (const std::string& want : o.classes) {
      const int cls = find_class(names, want);
      if (cls < 0) continue;
      found.insert(lower(want));
      ClassFocusTable table{ds, names[static_cast<size_t>(cls)], {}};
      for (const auto& row : rows) {
        const auto it = row.by_dataset.find(ds);
        if (it == row.by_dataset.end() || !it->second.contains("confusion_matrix")) continue;
        table.rows.push_back(focus_row(row.label, it->second, cls, names, o));
      }
      out.push_back(std::move(table));
    }
  }
  for (const std::string& want : o.classes) {
    if (found.count(lower(want))) continue;
    std::string searched;
    for (const auto& ds : datasets) searched += (searched.empty() ? "" : ", ") + dataset_short_name(ds);
    throw std::invalid_argument("focus class '" + want + "' is in none of the records' data sets (" +
                                (searched.empty() ? std::string("no records") : searched) + ")");
  }
  return out;
}

std::string render_class_focus(const std::vector<json>& records, const ClassFocusOptions& o) {
  if (o.format != TableFormat::Markdown && o.format != TableFormat::Csv)
    throw std::invalid_argument("--focus tables are Markdown or CSV");
  int skipped = 0;
  const auto tables = class_focus_tables(records, o, &skipped);
  std::string out;
  if (o.format == TableFormat::Csv) out = "dataset,class,method,IoU,precision,recall,gt_pixels,missed_as,taken_from\n";
  for (const auto& t : tables) {
    if (o.format == TableFormat::Csv) {
      for (const auto& r : t.rows)
        out += dataset_short_name(t.dataset) + "," + csv_field(t.class_name) + "," + csv_field(r.method) + "," +
               pct(r.iou, o.decimals) + "," + pct(r.precision, o.decimals) + "," + pct(r.recall, o.decimals) + "," +
               std::to_string(r.gt_pixels) + "," + csv_field(shares_text(r.missed_as, o.decimals)) + "," +
               csv_field(shares_text(r.taken_from, o.decimals)) + "\n";
      continue;
    }
    out += "### " + t.class_name + " on " + dataset_short_name(t.dataset) + "\n\n";
    out += "| Method | IoU | Precision | Recall | GT pixels | Missed as (% of GT) | Taken from (% of predicted) |\n";
    out += "|---|---:|---:|---:|---:|---|---|\n";
    for (const auto& r : t.rows)
      out += "| " + r.method + " | " + pct(r.iou, o.decimals) + " | " + pct(r.precision, o.decimals) + " | " +
             pct(r.recall, o.decimals) + " | " + std::to_string(r.gt_pixels) + " | " +
             shares_text(r.missed_as, o.decimals) + " | " + shares_text(r.taken_from, o.decimals) + " |\n";
    out += "\n";
  }
  if (o.format == TableFormat::Markdown && skipped > 0)
    out += "(" + std::to_string(skipped) + " shard records skipped: merge them with `ovseg merge`.)\n";
  return out;
}

}  // namespace ovseg
