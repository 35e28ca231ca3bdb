// build_table: data-set tables (methods x benchmarks, Avg, zero-shot
// columns, published rows, Δ) and per-class tables (methods x classes).
#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "ovseg/harness/dataset.hpp"
#include "ovseg/host/benchmark_names.hpp"
#include "ovseg/host/tables.hpp"
#include "ovseg/sdk/diagnostics.hpp"
#include "table_records.hpp"

namespace ovseg {

using nlohmann::json;
using tables::RecordRow;

TableFormat parse_table_format(const std::string& name) {
  if (name == "md" || name == "markdown") return TableFormat::Markdown;
  if (name == "csv") return TableFormat::Csv;
  if (name == "latex" || name == "tex") return TableFormat::Latex;
  if (name == "html") return TableFormat::Html;
  throw std::invalid_argument("unknown table format '" + name + "' (md, csv, latex, html)");
}

TableFormat table_format_for_file(const std::string& path, TableFormat fallback) {
  const auto dot = path.rfind('.');
  if (dot == std::string::npos) return fallback;
  const std::string ext = path.substr(dot + 1);
  if (ext == "md" || ext == "csv" || ext == "tex" || ext == "html" || ext == "latex") return parse_table_format(ext);
  return fallback;
}

std::vector<std::string> ComparisonTable::header() const {
  std::vector<std::string> h;
  for (const auto& c : columns) h.push_back(c.flat_header());
  return h;
}

std::vector<std::string> ComparisonTable::row_text(size_t row) const {
  std::vector<std::string> out;
  for (const auto& c : rows.at(row).cells) out.push_back(c.text);
  return out;
}

int ComparisonTable::column(const std::string& flat_header) const {
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i].flat_header() == flat_header) return static_cast<int>(i);
  return -1;
}

namespace {

const std::vector<std::string> kMetrics = {"mIoU", "mAcc", "aAcc", "fwIoU", "hIoU"};

// A row before its cells: a record row or a published one.
struct Planned {
  const RecordRow* record = nullptr;
  const PublishedRow* published = nullptr;
  std::string label, group, counterpart;
};

struct Plan {
  std::vector<Planned> rows;
  std::vector<std::string> notes;  // footer lines about the layout
};

// Pipeline names compared without spaces: the demo calls "naclip+pamr"
// "naclip + pamr".
bool same_name(const std::string& a, const std::string& b) {
  const auto squeeze = [](std::string s) {
    s.erase(std::remove(s.begin(), s.end(), ' '), s.end());
    return s;
  };
  return a == b || squeeze(a) == squeeze(b);
}

const PublishedRow* counterpart_of(const std::vector<PublishedRow>& published, const std::string& pipeline) {
  for (const auto& p : published)
    for (const auto& r : p.reproduced_by)
      if (same_name(r, pipeline)) return &p;
  return nullptr;
}

// The rows in layout order. Without a layout: published rows (when asked
// for) grouped by their paper's group, then the record rows.
Plan plan_rows(const std::vector<RecordRow>& records, const TableOptions& o, bool allow_published) {
  Plan plan;
  if (!o.groups.empty()) {
    std::set<const RecordRow*> placed;
    std::vector<std::string> missing;
    for (const auto& g : o.groups)
      for (const auto& e : g.rows) {
        if (e.pipeline.empty()) {
          if (e.published.empty())
            throw std::invalid_argument("a row entry names neither a pipeline nor a published row");
          const PublishedRow& p = find_published(o.published, e.published);
          if (allow_published) plan.rows.push_back({nullptr, &p, e.label.empty() ? p.method : e.label, g.name, ""});
          continue;
        }
        if (!e.published.empty()) find_published(o.published, e.published);  // a typo fails here
        bool any = false;
        for (const auto& r : records)
          if (same_name(r.name, e.pipeline) || r.label == e.pipeline) {
            any = true;
            placed.insert(&r);
            std::string label = r.label;
            if (!e.label.empty()) label = r.label == r.name ? e.label : e.label + r.label.substr(r.name.size());
            const PublishedRow* auto_pub = counterpart_of(o.published, r.name);
            plan.rows.push_back(
                {&r, nullptr, label, g.name, !e.published.empty() ? e.published : (auto_pub ? auto_pub->id : "")});
          }
        if (!any) missing.push_back(e.pipeline);
      }
    if (!missing.empty()) {
      std::string s;
      for (const auto& m : missing) s += (s.empty() ? "" : ", ") + m;
      plan.notes.push_back("named by the row layout but not stored: " + s);
    }
    std::string unplaced;
    for (const auto& r : records)
      if (!placed.count(&r)) unplaced += (unplaced.empty() ? "" : ", ") + r.label;
    if (!unplaced.empty()) plan.notes.push_back("stored but not in the row layout (not shown): " + unplaced);
    return plan;
  }
  const bool with_pub = allow_published && o.with_published && !o.published.empty();
  if (with_pub) {
    // Training-free methods first, as papers print them; within a group
    // chronologically (by the venue's year), then in file order.
    std::vector<std::string> group_order;
    for (const auto& p : o.published)
      if (std::find(group_order.begin(), group_order.end(), p.group) == group_order.end())
        group_order.push_back(p.group);
    std::stable_partition(group_order.begin(), group_order.end(),
                          [](const std::string& g) { return g.find("raining-free") != std::string::npos; });
    const auto year = [](const PublishedRow& p) {
      const auto digits = p.venue.find_last_of("0123456789");
      return digits == std::string::npos || digits < 3 ? 0 : std::atoi(p.venue.substr(digits - 3, 4).c_str());
    };
    for (const auto& g : group_order) {
      std::vector<const PublishedRow*> in_group;
      for (const auto& p : o.published)
        if (p.group == g) in_group.push_back(&p);
      std::stable_sort(in_group.begin(), in_group.end(),
                       [&](const PublishedRow* a, const PublishedRow* b) { return year(*a) < year(*b); });
      for (const auto* p : in_group) plan.rows.push_back({nullptr, p, p->method, g, ""});
    }
  }
  for (const auto& r : records) {
    const PublishedRow* auto_pub = counterpart_of(o.published, r.name);
    plan.rows.push_back({&r, nullptr, r.label, with_pub ? "Reproduced (ovseg)" : "", auto_pub ? auto_pub->id : ""});
  }
  return plan;
}

std::optional<double> planned_value(const Planned& p, const std::string& metric, const std::string& ds) {
  if (p.published) return p.published->value(metric, ds);
  const auto it = p.record->by_dataset.find(ds);
  if (it == p.record->by_dataset.end()) return std::nullopt;
  return tables::record_metric(it->second, metric);
}

std::string joined_short(const std::vector<std::string>& datasets) {
  std::string s;
  for (const auto& d : datasets) s += (s.empty() ? "" : ", ") + dataset_short_name(d);
  return s;
}

// The data sets the Avg column averages, per the avg option.
std::vector<std::string> avg_datasets(const TableOptions& o, const std::vector<std::string>& datasets,
                                      const std::vector<Planned>& rows, const std::string& metric, bool* common) {
  *common = false;
  if (!o.avg_over.empty()) {
    std::vector<std::string> out;
    for (const auto& name : o.avg_over) {
      const std::string d = dataset_from_column_name(name);
      if (std::find(datasets.begin(), datasets.end(), d) == datasets.end())
        throw std::invalid_argument("--avg names " + name + ", which is not a column of this table");
      out.push_back(d);
    }
    return out;
  }
  const std::string& avg = o.avg;
  if (avg == "none") return {};
  if (avg == "all") return datasets;
  if (avg != "common" && !avg.empty())
    throw std::invalid_argument("--avg '" + avg + "': use common, all, none or a list of data sets");
  *common = true;
  std::vector<std::string> out;
  for (const auto& d : datasets)
    if (std::all_of(rows.begin(), rows.end(),
                    [&](const Planned& p) { return planned_value(p, metric, d).has_value(); }))
      out.push_back(d);
  return out;
}

std::string zero_shot_note(const std::string& ds, const json& z) {
  std::string names;
  for (const auto& u : z.at("unseen")) names += (names.empty() ? "" : ", ") + u.get<std::string>();
  return dataset_short_name(ds) + ": seen / unseen / hIoU = mIoU over the " + z.value("seen_classes", json(0)).dump() +
         " seen and " + z.value("unseen_classes", json(0)).dump() + " unseen classes (" + names +
         ") and their harmonic mean; split: " + z.value("source", std::string("?"));
}

std::string published_note(const PublishedRow& p) {
  std::string s = "† " + p.method + " (" + p.backbone + "): " + p.cite + ", \"" + p.paper_title + "\"";
  if (!p.venue.empty()) s += ", " + p.venue;
  s += "; numbers: " + p.source;
  if (!p.protocol.empty()) s += "; protocol: " + p.protocol;
  return s;
}

std::vector<const RecordRow*> record_rows_of(const std::vector<Planned>& rows) {
  std::vector<const RecordRow*> out;
  for (const auto& p : rows)
    if (p.record && std::find(out.begin(), out.end(), p.record) == out.end()) out.push_back(p.record);
  return out;
}

TableRow start_row(const Planned& p) {
  TableRow row;
  row.label = p.label;
  row.group = p.group;
  row.published = p.published != nullptr;
  if (p.published) row.cite = p.published->cite;
  row.counterpart = p.counterpart;
  row.cells.push_back({p.label, std::nullopt, 0, ""});
  if (p.record)
    for (const auto& [ds, r] : p.record->by_dataset) row.records.push_back(r);
  return row;
}

// The data-set columns: the requested ones, else every data set a record
// row has and the harness data sets the published rows report.
std::vector<std::string> column_datasets(const Plan& plan, const TableOptions& o) {
  const std::string& metric = o.metric;
  std::vector<std::string> datasets;
  if (!o.datasets.empty()) {
    for (const auto& d : o.datasets) datasets.push_back(dataset_from_column_name(d));
  } else {
    std::set<std::string> present;
    for (const auto& p : plan.rows) {
      if (p.record) {
        for (const auto& [ds, r] : p.record->by_dataset)
          if (metric != "hIoU" || tables::record_metric(r, "hIoU")) present.insert(ds);
      } else if (const auto m = p.published->values.find(metric); m != p.published->values.end()) {
        for (const auto& [ds, v] : m->second)
          if (std::find(extra_benchmarks().begin(), extra_benchmarks().end(), ds) == extra_benchmarks().end())
            present.insert(ds);
      }
    }
    datasets.assign(present.begin(), present.end());
    std::stable_sort(datasets.begin(), datasets.end(), [](const std::string& a, const std::string& b) {
      return dataset_column_rank(a) < dataset_column_rank(b);
    });
  }
  return datasets;
}

// A row's Avg cell: the mean over `avg` when the row has every one of them;
// a published row's own Avg when its paper averages exactly these.
TableCell average_cell(const Planned& p, const std::vector<std::string>& avg, const std::string& metric) {
  TableCell cell;
  double sum = 0;
  bool all = true;
  for (const auto& d : avg) {
    const auto v = planned_value(p, metric, d);
    all &= v.has_value();
    if (v) sum += *v;
  }
  if (all) cell.value = sum / static_cast<double>(avg.size());
  // The paper's own Avg when it averages exactly these data sets.
  if (all && p.published && p.published->printed_avg.count(metric) &&
      p.published->values.at(metric).size() == avg.size()) {
    cell.value = p.published->printed_avg.at(metric);
    cell.note = "as printed by the source";
  }
  return cell;
}

// A reproduced row's Δ cell: reproduced minus its published counterpart,
// averaged over the data sets both report (per data set in the note).
TableCell delta_cell(const Planned& p, const std::vector<std::string>& datasets, const TableOptions& o) {
  const std::string& metric = o.metric;
  TableCell cell;
  const PublishedRow& ref = find_published(o.published, p.counterpart);
  double sum = 0;
  int n = 0;
  for (const auto& d : datasets) {
    const auto ours = planned_value(p, metric, d);
    const auto theirs = ref.value(metric, d);
    if (!ours || !theirs) continue;
    sum += *ours - *theirs;
    ++n;
    cell.note += (cell.note.empty() ? "" : ", ") + dataset_short_name(d) + " " + (*ours >= *theirs ? "+" : "") +
                 tables::format_number(*ours - *theirs, o.decimals);
  }
  if (n > 0) {
    cell.value = sum / n;
    cell.note = "vs " + ref.method + " (" + ref.cite + "): " + cell.note;
  } else {
    cell.note = "no data set in common with " + ref.method;
  }
  return cell;
}

ComparisonTable build_datasets(const std::vector<RecordRow>& records, const TableOptions& o, int skipped) {
  ComparisonTable t;
  t.kind = "datasets";
  t.metric = o.metric;
  t.decimals = o.decimals;
  Plan plan = plan_rows(records, o, true);
  const std::string& metric = o.metric;

  std::vector<std::string> datasets = column_datasets(plan, o);
  // The zero-shot literature's columns where a reproduced row has a split
  // (published zero-shot rows join those columns; they do not open them).
  std::set<std::string> zero_shot;
  if (metric == "mIoU")
    for (const auto& d : datasets)
      for (const auto& p : plan.rows)
        if (p.record && planned_value(p, "seen", d)) zero_shot.insert(d);

  // A published row without a number in any column says nothing here.
  if (o.groups.empty())
    plan.rows.erase(std::remove_if(plan.rows.begin(), plan.rows.end(),
                                   [&](const Planned& p) {
                                     return p.published &&
                                            std::none_of(datasets.begin(), datasets.end(), [&](const std::string& d) {
                                              return planned_value(p, metric, d) ||
                                                     (zero_shot.count(d) && planned_value(p, "seen", d));
                                            });
                                   }),
                    plan.rows.end());

  // Published rows of several backbones: say which is which.
  std::set<std::string> backbones;
  for (const auto& p : plan.rows)
    if (p.published) backbones.insert(p.published->backbone);
  if (backbones.size() > 1)
    for (auto& p : plan.rows)
      if (p.published && p.label == p.published->method) p.label += " (" + p.published->backbone + ")";

  t.columns.push_back({ColumnKind::Label, "Method", "", "", "", "", false});
  for (const auto& d : datasets) {
    const std::string s = dataset_short_name(d);
    if (zero_shot.count(d)) {
      t.columns.push_back({ColumnKind::Metric, "mIoU", s, d, "mIoU", "", true});
      for (const char* k : {"seen", "unseen", "hIoU"}) t.columns.push_back({ColumnKind::Metric, k, s, d, k, "", true});
    } else {
      t.columns.push_back({ColumnKind::Metric, s, "", d, metric, "", true});
    }
  }
  bool common = false;
  const std::vector<std::string> avg = avg_datasets(o, datasets, plan.rows, metric, &common);
  const bool has_avg = avg.size() >= 2;
  if (has_avg) t.columns.push_back({ColumnKind::Average, "Avg", "", "", metric, "", true});
  // Δ only where a reproduced row and its counterpart share a data set column.
  bool has_delta = false;
  for (const auto& p : plan.rows)
    if (p.record && !p.counterpart.empty())
      for (const auto& d : datasets)
        has_delta |= planned_value(p, metric, d) && find_published(o.published, p.counterpart).value(metric, d);
  if (has_delta) t.columns.push_back({ColumnKind::Delta, "Δ", "", "", metric, "", false});

  for (const auto& p : plan.rows) {
    TableRow row = start_row(p);
    for (size_t c = 1; c < t.columns.size(); ++c) {
      const TableColumn& col = t.columns[c];
      TableCell cell;
      if (col.kind == ColumnKind::Metric) {
        cell.value = planned_value(p, col.metric, col.dataset);
      } else if (col.kind == ColumnKind::Average) {
        cell = average_cell(p, avg, metric);
      } else if (col.kind == ColumnKind::Delta && p.record && !p.counterpart.empty()) {
        cell = delta_cell(p, datasets, o);
      }
      cell.text = col.kind == ColumnKind::Delta && cell.value && *cell.value > 0
                      ? "+" + tables::format_number(cell.value, o.decimals)
                      : tables::format_number(cell.value, o.decimals);
      row.cells.push_back(cell);
    }
    t.rows.push_back(std::move(row));
  }
  tables::rank_columns(t);

  // Footer: what the columns mean, where published numbers come from, the
  // layout, then every reproduced row's protocol.
  const auto rrows = record_rows_of(plan.rows);
  for (const auto& d : zero_shot)
    for (const auto* r : rrows)
      if (auto it = r->by_dataset.find(d); it != r->by_dataset.end() && it->second.contains("zero_shot")) {
        t.footer.push_back(zero_shot_note(d, it->second.at("zero_shot")));
        break;
      }
  if (has_avg && avg.size() != datasets.size())
    t.footer.push_back("Avg: mean over " + joined_short(avg) + (common ? " (the data sets every row has)" : "") +
                       "; other columns are not averaged");
  else if (has_avg && o.avg == "all" && o.avg_over.empty())
    t.footer.push_back("Avg: mean over every data set column; rows lacking one have none");
  if (has_delta)
    t.footer.push_back("Δ: reproduced minus published " + metric +
                       ", mean over the data sets both rows report (per data set on hover in the HTML report)");
  std::vector<const PublishedRow*> cited;
  for (const auto& p : plan.rows)
    if (p.published && std::find(cited.begin(), cited.end(), p.published) == cited.end()) cited.push_back(p.published);
  for (const auto& p : plan.rows)
    if (p.record && !p.counterpart.empty()) {
      const PublishedRow* ref = &find_published(o.published, p.counterpart);
      if (std::find(cited.begin(), cited.end(), ref) == cited.end()) cited.push_back(ref);
    }
  for (const auto* p : cited) t.footer.push_back(published_note(*p));
  t.footer.insert(t.footer.end(), plan.notes.begin(), plan.notes.end());
  const auto protocol = tables::protocol_footer(rrows);
  t.footer.insert(t.footer.end(), protocol.begin(), protocol.end());
  if (skipped > 0)
    t.footer.push_back(std::to_string(skipped) + " shard record(s) not shown: combine them with `ovseg merge`");

  t.title = metric + " (%)";
  std::string caption = metric == "hIoU" ? "Harmonic mean of seen and unseen mIoU (%)" : metric + " (%)";
  caption += datasets.empty() ? "." : " on " + joined_short(datasets) + ".";
  const std::string ps = tables::protocol_sentence(rrows);
  if (!ps.empty()) caption += " " + ps;
  if (!cited.empty())
    caption += std::string(" Rows marked † are published numbers as printed in the cited papers") +
               (backbones.size() == 1 ? " (" + *backbones.begin() + ")" : "") + ", under their own protocols.";
  if (has_avg && avg.size() != datasets.size()) caption += " Avg over " + joined_short(avg) + ".";
  if (has_delta) caption += " Δ: reproduced minus published.";
  caption += " Best in bold, second underlined.";
  t.caption = o.caption.empty() ? caption : o.caption;
  return t;
}

ComparisonTable build_per_class(const std::vector<RecordRow>& records, const TableOptions& o, int skipped) {
  ComparisonTable t;
  t.kind = "per-class";
  t.decimals = o.decimals;
  const std::string ds = harness::canonical_dataset_name(o.per_class_dataset);
  t.dataset = ds;
  // Per-class accuracy for the accuracy metrics, IoU otherwise.
  const bool acc = o.metric == "mAcc" || o.metric == "aAcc";
  const std::string summary = o.metric == "hIoU" ? "mIoU" : o.metric;
  t.metric = summary;
  std::vector<RecordRow> on_ds;
  for (const auto& r : records)
    if (r.by_dataset.count(ds)) on_ds.push_back(r);
  if (on_ds.empty()) throw std::runtime_error("no stored record on data set '" + ds + "'");
  Plan plan = plan_rows(on_ds, o, false);
  if (plan.rows.empty()) throw std::runtime_error("the row layout names no stored pipeline on data set '" + ds + "'");

  json split;
  for (const auto& p : plan.rows)
    if (p.record->by_dataset.at(ds).contains("zero_shot")) split = p.record->by_dataset.at(ds).at("zero_shot");
  std::set<std::string> unseen;
  if (split.is_object())
    for (const auto& u : split.at("unseen")) unseen.insert(u.get<std::string>());

  std::vector<std::string> classes;
  for (const auto& c : plan.rows[0].record->by_dataset.at(ds).at("metrics").at("per_class"))
    classes.push_back(c.value("name", "?"));
  if (!o.classes.empty()) {
    for (const auto& c : o.classes)
      if (std::find(classes.begin(), classes.end(), c) == classes.end())
        throw std::invalid_argument("--classes: '" + c + "' is not a class of " + ds + did_you_mean(c, classes));
    classes = o.classes;
  }
  t.columns.push_back({ColumnKind::Label, "Method", "", "", "", "", false});
  for (const auto& c : classes)
    t.columns.push_back({ColumnKind::Metric, unseen.count(c) ? c + "*" : c, "", ds, acc ? "Acc" : "IoU", c, true});
  t.columns.push_back({ColumnKind::Metric, summary, "", ds, summary, "", true});
  if (split.is_object())
    for (const char* k : {"seen", "unseen", "hIoU"}) t.columns.push_back({ColumnKind::Metric, k, "", ds, k, "", true});

  for (const auto& p : plan.rows) {
    TableRow row = start_row(p);
    row.records = {p.record->by_dataset.at(ds)};
    const json& r = row.records[0];
    std::map<std::string, std::optional<double>> per_class;
    for (const auto& c : r.at("metrics").at("per_class")) {
      const json& v = c.at(acc ? "acc" : "iou");
      per_class[c.value("name", "?")] = v.is_number() ? std::optional<double>(v.get<double>()) : std::nullopt;
    }
    for (size_t c = 1; c < t.columns.size(); ++c) {
      const TableColumn& col = t.columns[c];
      TableCell cell;
      if (!col.class_name.empty()) {
        const auto it = per_class.find(col.class_name);
        if (it != per_class.end()) cell.value = it->second;
      } else {
        cell.value = tables::record_metric(r, col.metric);
      }
      cell.text = tables::format_number(cell.value, o.decimals);
      row.cells.push_back(cell);
    }
    t.rows.push_back(std::move(row));
  }
  tables::rank_columns(t);
  if (split.is_object()) t.footer.push_back(zero_shot_note(ds, split) + "; unseen classes are marked *");
  t.footer.insert(t.footer.end(), plan.notes.begin(), plan.notes.end());
  const auto rrows = record_rows_of(plan.rows);
  const auto protocol = tables::protocol_footer(rrows);
  t.footer.insert(t.footer.end(), protocol.begin(), protocol.end());
  if (skipped > 0)
    t.footer.push_back(std::to_string(skipped) + " shard record(s) not shown: combine them with `ovseg merge`");
  t.title = std::string(acc ? "per-class accuracy" : "per-class IoU") + " (%) on " + dataset_short_name(ds);
  std::string caption = std::string(acc ? "Per-class accuracy" : "Per-class IoU") + " (%) on " +
                        dataset_short_name(ds) + " (" +
                        plan.rows[0].record->by_dataset.at(ds).at("dataset").value("split", "val") + ").";
  const std::string ps = tables::protocol_sentence(rrows);
  if (!ps.empty()) caption += " " + ps;
  if (split.is_object()) caption += " Unseen classes are marked *.";
  caption += " Best in bold, second underlined.";
  t.caption = o.caption.empty() ? caption : o.caption;
  return t;
}

}  // namespace

ComparisonTable build_table(const std::vector<json>& records, const TableOptions& o) {
  if (std::find(kMetrics.begin(), kMetrics.end(), o.metric) == kMetrics.end())
    throw std::invalid_argument("unknown metric '" + o.metric + "' (mIoU, mAcc, aAcc, fwIoU, hIoU)");
  if (o.decimals < 0 || o.decimals > 6) throw std::invalid_argument("decimals must be between 0 and 6");
  int skipped = 0;
  const std::vector<RecordRow> rows = tables::group_record_rows(records, &skipped);
  return o.per_class_dataset.empty() ? build_datasets(rows, o, skipped) : build_per_class(rows, o, skipped);
}

}  // namespace ovseg
