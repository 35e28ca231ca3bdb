// build_ablation_table: one column per swept axis, as papers print
// ablations (✓/✗ for booleans, the values otherwise), then the metric per
// data set and their average.
#include <algorithm>
#include <map>
#include <set>

#include "ovseg/host/benchmark_names.hpp"
#include "ovseg/host/tables.hpp"
#include "table_records.hpp"

namespace ovseg {

using nlohmann::json;

namespace {

// "nodes.refine.gaussian_std" -> "gaussian_std"; when two axes end alike,
// the path without "nodes." tells them apart.
std::vector<std::string> axis_headers(const std::vector<std::string>& axes) {
  std::vector<std::string> out;
  for (const auto& a : axes) out.push_back(a.substr(a.rfind('.') + 1));
  for (size_t i = 0; i < out.size(); ++i)
    if (std::count(out.begin(), out.end(), out[i]) > 1)
      for (size_t j = 0; j < out.size(); ++j)
        if (out[j] == out[i] && axes[j].rfind("nodes.", 0) == 0) out[j] = axes[j].substr(6);
  return out;
}

std::string axis_cell(const std::string& value) {
  if (value == "true") return "✓";
  if (value == "false") return "✗";
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') return value.substr(1, value.size() - 2);
  return value;
}

}  // namespace

ComparisonTable build_ablation_table(const AblationInput& in, const TableOptions& o) {
  ComparisonTable t;
  t.kind = "ablation";
  t.metric = o.metric == "hIoU" ? "hIoU" : o.metric;
  t.decimals = o.decimals;
  t.axes = in.axes;

  std::vector<std::string> datasets;
  if (!o.datasets.empty()) {
    for (const auto& d : o.datasets) datasets.push_back(dataset_from_column_name(d));
  } else {
    std::set<std::string> present;
    for (const auto& p : in.points)
      for (const auto& r : p.records) present.insert(r.at("dataset").at("name").get<std::string>());
    datasets.assign(present.begin(), present.end());
    std::stable_sort(datasets.begin(), datasets.end(), [](const std::string& a, const std::string& b) {
      return dataset_column_rank(a) < dataset_column_rank(b);
    });
  }
  const auto record_on = [](const AblationPoint& p, const std::string& ds) -> const json* {
    for (const auto& r : p.records)
      if (r.at("dataset").at("name") == ds) return &r;
    return nullptr;
  };
  std::set<std::string> zero_shot;
  if (t.metric == "mIoU")
    for (const auto& p : in.points)
      for (const auto& d : datasets)
        if (const json* r = record_on(p, d); r && tables::record_metric(*r, "seen")) zero_shot.insert(d);

  const auto headers = axis_headers(in.axes);
  for (const auto& h : headers) t.columns.push_back({ColumnKind::Axis, h, "", "", "", "", false});
  for (const auto& d : datasets) {
    const std::string s = dataset_short_name(d);
    if (zero_shot.count(d)) {
      t.columns.push_back({ColumnKind::Metric, t.metric, s, d, t.metric, "", true});
      for (const char* k : {"seen", "unseen", "hIoU"}) t.columns.push_back({ColumnKind::Metric, k, s, d, k, "", true});
    } else {
      t.columns.push_back({ColumnKind::Metric, s, "", d, t.metric, "", true});
    }
  }
  const bool has_avg = datasets.size() >= 2 && o.avg != "none";
  if (has_avg) t.columns.push_back({ColumnKind::Average, "Avg", "", "", t.metric, "", true});

  std::vector<json> all_records;
  for (const auto& p : in.points) {
    TableRow row;
    for (size_t a = 0; a < in.axes.size(); ++a)
      row.label += (row.label.empty() ? "" : ", ") + headers[a] + "=" + axis_cell(p.values.at(a));
    row.records = p.records;
    all_records.insert(all_records.end(), p.records.begin(), p.records.end());
    for (const auto& v : p.values) row.cells.push_back({axis_cell(v), std::nullopt, 0, ""});
    double sum = 0;
    int n = 0;
    for (size_t c = in.axes.size(); c < t.columns.size(); ++c) {
      const TableColumn& col = t.columns[c];
      TableCell cell;
      if (col.kind == ColumnKind::Metric) {
        if (const json* r = record_on(p, col.dataset)) cell.value = tables::record_metric(*r, col.metric);
        if (cell.value && col.metric == t.metric) sum += *cell.value, ++n;
      } else if (n == static_cast<int>(datasets.size())) {
        cell.value = sum / n;
      }
      cell.text = tables::format_number(cell.value, o.decimals);
      row.cells.push_back(cell);
    }
    t.axis_values.push_back(p.values);
    t.rows.push_back(std::move(row));
  }
  tables::rank_columns(t);

  int skipped = 0;
  const auto rows = tables::group_record_rows(all_records, &skipped);
  // In point order (not record dates: a point found stored from an earlier
  // run is older than the points run after it), so "first point" is.
  std::map<std::string, size_t> point_of_key;
  for (size_t i = in.points.size(); i-- > 0;)
    for (const auto& r : in.points[i].records) point_of_key[r.value("key", std::string())] = i;
  const auto first_point = [&](const tables::RecordRow& row) {
    size_t best = in.points.size();
    for (const auto& [ds, r] : row.by_dataset)
      if (const auto it = point_of_key.find(r.value("key", std::string())); it != point_of_key.end())
        best = std::min(best, it->second);
    return best;
  };
  std::vector<const tables::RecordRow*> rrows;
  for (const auto& r : rows) rrows.push_back(&r);
  std::stable_sort(rrows.begin(), rrows.end(), [&](const tables::RecordRow* a, const tables::RecordRow* b) {
    return first_point(*a) < first_point(*b);
  });
  size_t missing = 0;
  for (const auto& p : in.points) missing += p.records.empty();
  if (missing > 0)
    t.footer.push_back(std::to_string(missing) + " point(s) without a stored record (-): run `ovseg sweep`");
  if (!in.axes.empty()) {
    std::string paths;
    for (size_t a = 0; a < in.axes.size(); ++a) paths += (paths.empty() ? "" : ", ") + headers[a] + " = " + in.axes[a];
    t.footer.push_back(
        "axes: " + paths +
        (std::any_of(t.rows.begin(), t.rows.end(),
                     [&](const TableRow& r) {
                       return std::any_of(r.cells.begin(), r.cells.begin() + in.axes.size(),
                                          [](const TableCell& c) { return c.text == "✓" || c.text == "✗"; });
                     })
             ? "; ✓ = true, ✗ = false"
             : ""));
  }
  const auto protocol = tables::protocol_footer(rrows, false);
  t.footer.insert(t.footer.end(), protocol.begin(), protocol.end());

  t.title = in.name + ": " + t.metric + " (%)";
  std::string ds_list;
  for (const auto& d : datasets) ds_list += (ds_list.empty() ? "" : ", ") + dataset_short_name(d);
  std::string caption = "Ablation \"" + in.name + "\": " + t.metric + " (%)" +
                        (ds_list.empty() ? "" : " on " + ds_list) + ".";
  const std::string ps = tables::protocol_sentence(rrows);
  if (!ps.empty()) caption += " " + ps;
  caption += " Best in bold, second underlined.";
  t.caption = o.caption.empty() ? caption : o.caption;
  return t;
}

}  // namespace ovseg
