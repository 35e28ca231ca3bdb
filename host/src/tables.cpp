#include "ovseg/host/tables.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "ovseg/harness/dataset.hpp"

namespace ovseg {

using nlohmann::json;

TableFormat parse_table_format(const std::string& name) {
  if (name == "md" || name == "markdown") return TableFormat::Markdown;
  if (name == "csv") return TableFormat::Csv;
  if (name == "latex" || name == "tex") return TableFormat::Latex;
  if (name == "html") return TableFormat::Html;
  throw std::invalid_argument("unknown table format '" + name + "' (md, csv, latex, html)");
}

namespace {

std::string fmt(const json& v, int decimals) {
  if (!v.is_number()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v.get<double>());
  return buf;
}

std::string knobs_text(const json& protocol) {
  std::string s;
  for (const auto& [k, v] : protocol.items()) s += (s.empty() ? "" : ", ") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  return s;
}

std::string limit_text(const json& r) {
  const json& l = r.at("selection").at("limit");
  return l.is_null() ? "all" : l.dump();
}

struct Row {
  std::string name, sha, limit;
  json protocol;
  std::map<std::string, json> by_dataset;  // dataset -> newest record
  std::string label;
};

// Rows in first-seen order (records come sorted by file name).
std::vector<Row> group_rows(const std::vector<json>& records, int* skipped_shards) {
  std::vector<Row> rows;
  for (const auto& r : records) {
    if (r.at("selection").at("shard").at("count").get<int>() > 1) {
      ++*skipped_shards;
      continue;
    }
    const std::string name = r.at("pipeline").at("name"), sha = r.at("pipeline").at("sha256");
    const std::string limit = limit_text(r);
    auto it = std::find_if(rows.begin(), rows.end(),
                           [&](const Row& x) { return x.name == name && x.sha == sha && x.limit == limit; });
    if (it == rows.end()) {
      rows.push_back({name, sha, limit, r.at("protocol"), {}, name});
      it = rows.end() - 1;
    }
    const std::string ds = r.at("dataset").at("name");
    auto& slot = it->by_dataset[ds];
    if (slot.is_null() || slot.value("date", "") < r.value("date", "")) slot = r;
  }
  // Tag rows that share a name with what tells them apart.
  std::map<std::string, std::vector<Row*>> same_name;
  for (auto& row : rows) same_name[row.name].push_back(&row);
  for (auto& [name, group] : same_name) {
    if (group.size() < 2) continue;
    std::set<std::string> differing;
    for (const auto& [k, v] : group[0]->protocol.items())
      for (const Row* other : group)
        if (other->protocol.value(k, json()) != v) differing.insert(k);
    bool limits_differ = false;
    for (const Row* other : group) limits_differ |= other->limit != group[0]->limit;
    for (Row* row : group) {
      std::string tag;
      for (const auto& k : differing) {
        const json& v = row->protocol[k];
        tag += (tag.empty() ? "" : ", ") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
      }
      if (limits_differ) tag += (tag.empty() ? "" : ", ") + std::string("limit=") + row->limit;
      if (tag.empty()) tag = "toml " + row->sha.substr(0, 8);  // same protocol, other parameters
      row->label = name + " [" + tag + "]";
    }
  }
  return rows;
}

std::vector<std::string> dataset_order(const std::vector<Row>& rows) {
  std::set<std::string> present;
  for (const auto& row : rows)
    for (const auto& [ds, r] : row.by_dataset) present.insert(ds);
  std::vector<std::string> out;
  for (const auto& ds : harness::dataset_names())
    if (present.erase(ds)) out.push_back(ds);
  out.insert(out.end(), present.begin(), present.end());
  return out;
}

std::vector<std::string> protocol_footer(const std::vector<Row>& rows) {
  std::vector<std::string> out;
  std::set<std::string> distinct;
  for (const auto& row : rows) distinct.insert(row.protocol.dump());
  if (distinct.size() == 1 && !rows.empty()) {
    out.push_back("protocol (every row): " + knobs_text(rows[0].protocol));
  } else {
    for (const auto& row : rows) out.push_back("protocol of " + row.label + ": " + knobs_text(row.protocol));
  }
  for (const auto& row : rows) {
    std::string s = "images of " + row.label + ":";
    for (const auto& [ds, r] : row.by_dataset)
      s += " " + ds + " " + r.at("selection").at("num_images").dump() + " (" +
           r.at("dataset").at("split").get<std::string>() + ", limit " + row.limit + ");";
    s += " pipeline sha256 " + row.sha.substr(0, 12);
    out.push_back(s);
  }
  return out;
}

std::string zero_shot_note(const std::string& ds, const json& z) {
  std::string names;
  for (const auto& u : z.at("unseen")) names += (names.empty() ? "" : ", ") + u.get<std::string>();
  return ds + ": seen / unseen / hIoU = mIoU over the " + z.value("seen_classes", json(0)).dump() + " seen and " +
         z.value("unseen_classes", json(0)).dump() + " unseen classes (" + names +
         ") and their harmonic mean; split: " + z.value("source", std::string("?"));
}

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += (c == '"') ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string latex_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string("&%$#_{}").find(c) != std::string::npos) out += '\\';
    out += c;
  }
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

// Horizontal bars of per-class IoU, inline SVG; classes absent from both
// ground truth and prediction (IoU n/a) are left out to keep charts short.
std::string svg_bars(const json& record) {
  std::vector<std::pair<std::string, double>> bars;
  int absent = 0;
  int i = 0;
  for (const auto& c : record.at("metrics").at("per_class")) {
    if (c.at("iou").is_number())
      bars.emplace_back(c.value("name", std::to_string(i)), c.at("iou").get<double>());
    else
      ++absent;
    ++i;
  }
  const int bar_h = 14, label_w = 150, plot_w = 300;
  const int n = static_cast<int>(bars.size());
  std::ostringstream os;
  os << "<svg xmlns='http://www.w3.org/2000/svg' width='" << label_w + plot_w + 60 << "' height='"
     << n * bar_h + 4 << "' font-family='sans-serif' font-size='11'>";
  for (int k = 0; k < n; ++k) {
    const double w = plot_w * bars[k].second / 100.0;
    const int y = k * bar_h + 2;
    char value[32];
    std::snprintf(value, sizeof value, "%.1f", bars[k].second);
    os << "<text x='" << label_w - 4 << "' y='" << y + 11 << "' text-anchor='end'>"
       << html_escape(bars[k].first) << "</text><rect x='" << label_w << "' y='" << y + 1 << "' width='" << w
       << "' height='" << bar_h - 3 << "' fill='#4a7ebb'/><text x='" << label_w + w + 3 << "' y='" << y + 11
       << "'>" << value << "</text>";
  }
  os << "</svg>";
  if (absent > 0)
    os << "<p style='font-size:80%'>" << absent << " classes absent from ground truth and prediction</p>";
  return os.str();
}

}  // namespace

ComparisonTable build_table(const std::vector<json>& records, const TableOptions& o) {
  ComparisonTable t;
  int skipped = 0;
  std::vector<Row> rows = group_rows(records, &skipped);
  if (o.per_class_dataset.empty()) {
    t.title = "mIoU (%)";
    const auto datasets = dataset_order(rows);
    // A data set whose records carry a seen/unseen split also gets the
    // zero-shot literature's columns: mIoU(seen), mIoU(unseen), hIoU.
    std::set<std::string> zero_shot;
    for (const auto& row : rows)
      for (const auto& [ds, r] : row.by_dataset)
        if (r.contains("zero_shot")) zero_shot.insert(ds);
    t.header = {"pipeline"};
    for (const auto& ds : datasets) {
      t.header.push_back(ds);
      if (zero_shot.count(ds))
        for (const char* c : {" seen", " unseen", " hIoU"}) t.header.push_back(ds + c);
    }
    for (const auto& row : rows) {
      std::vector<std::string> cells = {row.label};
      std::vector<json> shown;
      for (const auto& ds : datasets) {
        auto it = row.by_dataset.find(ds);
        cells.push_back(it == row.by_dataset.end() ? "-" : fmt(it->second.at("metrics").at("mIoU"), o.decimals));
        if (zero_shot.count(ds)) {
          const json z = it == row.by_dataset.end() ? json() : it->second.value("zero_shot", json());
          for (const char* k : {"mIoU_seen", "mIoU_unseen", "hIoU"}) cells.push_back(fmt(z.is_object() ? z.value(k, json()) : json(), o.decimals));
        }
        if (it != row.by_dataset.end()) shown.push_back(it->second);
      }
      t.rows.push_back(cells);
      t.row_records.push_back(shown);
    }
    for (const auto& ds : zero_shot)
      for (const auto& row : rows)
        if (auto it = row.by_dataset.find(ds); it != row.by_dataset.end() && it->second.contains("zero_shot")) {
          t.footer.push_back(zero_shot_note(ds, it->second.at("zero_shot")));
          break;
        }
  } else {
    const std::string ds = harness::canonical_dataset_name(o.per_class_dataset);
    t.title = "per-class IoU (%) on " + ds;
    rows.erase(std::remove_if(rows.begin(), rows.end(), [&](const Row& r) { return !r.by_dataset.count(ds); }),
               rows.end());
    if (rows.empty()) throw std::runtime_error("no stored record on data set '" + ds + "'");
    // With a seen/unseen split, unseen classes are marked with a * and the
    // seen / unseen / hIoU columns follow mIoU.
    json split;
    for (const auto& row : rows)
      if (row.by_dataset.at(ds).contains("zero_shot")) split = row.by_dataset.at(ds).at("zero_shot");
    std::set<std::string> unseen;
    if (split.is_object())
      for (const auto& u : split.at("unseen")) unseen.insert(u.get<std::string>());
    t.header = {"pipeline"};
    for (const auto& c : rows[0].by_dataset.at(ds).at("metrics").at("per_class")) {
      const std::string name = c.value("name", "?");
      t.header.push_back(unseen.count(name) ? name + "*" : name);
    }
    const size_t class_columns = t.header.size() - 1;
    t.header.push_back("mIoU");
    if (split.is_object())
      for (const char* c : {"seen", "unseen", "hIoU"}) t.header.push_back(c);
    for (const auto& row : rows) {
      const json& r = row.by_dataset.at(ds);
      std::vector<std::string> cells = {row.label};
      for (const auto& c : r.at("metrics").at("per_class")) cells.push_back(fmt(c.at("iou"), o.decimals));
      cells.resize(class_columns + 1, "-");
      cells.push_back(fmt(r.at("metrics").at("mIoU"), o.decimals));
      if (split.is_object()) {
        const json z = r.value("zero_shot", json());
        for (const char* k : {"mIoU_seen", "mIoU_unseen", "hIoU"}) cells.push_back(fmt(z.is_object() ? z.value(k, json()) : json(), o.decimals));
      }
      t.rows.push_back(cells);
      t.row_records.push_back({r});
    }
    if (split.is_object()) t.footer.push_back(zero_shot_note(ds, split));
  }
  const auto protocol_lines = protocol_footer(rows);
  t.footer.insert(t.footer.end(), protocol_lines.begin(), protocol_lines.end());
  if (skipped > 0)
    t.footer.push_back(std::to_string(skipped) + " shard record(s) not shown: combine them with `ovseg merge`");
  return t;
}

std::string render_table(const ComparisonTable& t, TableFormat format) {
  std::ostringstream os;
  switch (format) {
    case TableFormat::Markdown: {
      const auto line = [&](const std::vector<std::string>& cells) {
        os << "|";
        for (const auto& c : cells) os << " " << c << " |";
        os << "\n";
      };
      os << "**" << t.title << "**\n\n";
      line(t.header);
      os << "|";
      for (size_t i = 0; i < t.header.size(); ++i) os << (i == 0 ? " :--- |" : " ---: |");
      os << "\n";
      for (const auto& r : t.rows) line(r);
      os << "\n";
      for (const auto& f : t.footer) os << "- " << f << "\n";
      break;
    }
    case TableFormat::Csv: {
      const auto line = [&](const std::vector<std::string>& cells) {
        for (size_t i = 0; i < cells.size(); ++i) os << (i ? "," : "") << csv_cell(cells[i]);
        os << "\n";
      };
      line(t.header);
      for (const auto& r : t.rows) line(r);
      for (const auto& f : t.footer) os << "# " << f << "\n";
      break;
    }
    case TableFormat::Latex: {
      os << "% " << t.title << "\n\\begin{tabular}{l" << std::string(t.header.size() - 1, 'r') << "}\n\\toprule\n";
      const auto line = [&](const std::vector<std::string>& cells) {
        for (size_t i = 0; i < cells.size(); ++i) os << (i ? " & " : "") << latex_escape(cells[i]);
        os << " \\\\\n";
      };
      line(t.header);
      os << "\\midrule\n";
      for (const auto& r : t.rows) line(r);
      os << "\\bottomrule\n\\end{tabular}\n";
      for (const auto& f : t.footer) os << "% " << f << "\n";
      break;
    }
    case TableFormat::Html: {
      os << "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>ovseg results</title><style>"
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
            "td:first-child,th:first-child{text-align:left}li{font-size:90%}</style></head><body>\n";
      os << "<h1>" << html_escape(t.title) << "</h1>\n<table>\n<tr>";
      for (const auto& h : t.header) os << "<th>" << html_escape(h) << "</th>";
      os << "</tr>\n";
      for (const auto& r : t.rows) {
        os << "<tr>";
        for (const auto& c : r) os << "<td>" << html_escape(c) << "</td>";
        os << "</tr>\n";
      }
      os << "</table>\n<ul>\n";
      for (const auto& f : t.footer) os << "<li>" << html_escape(f) << "</li>\n";
      os << "</ul>\n<h2>Per-class IoU</h2>\n";
      for (size_t i = 0; i < t.rows.size(); ++i)
        for (const auto& r : t.row_records[i])
          os << "<h3>" << html_escape(t.rows[i][0]) << " on " << html_escape(r.at("dataset").at("name").get<std::string>())
             << " (mIoU " << fmt(r.at("metrics").at("mIoU"), 1) << ")</h3>\n" << svg_bars(r) << "\n";
      os << "<h2>Qualitative examples</h2>\n<p>image | ground truth | prediction (white: ignored)</p>\n";
      for (size_t i = 0; i < t.rows.size(); ++i)
        for (const auto& r : t.row_records[i]) {
          const json q = r.value("qualitative", json::array());
          if (q.empty()) continue;
          os << "<h3>" << html_escape(t.rows[i][0]) << " on " << html_escape(r.at("dataset").at("name").get<std::string>())
             << "</h3>\n";
          for (const auto& strip : q)
            os << "<figure style='display:inline-block;margin:4px'><img alt='" << html_escape(strip.value("id", ""))
               << "' src='data:image/jpeg;base64," << strip.value("jpeg_base64", "") << "'><figcaption>"
               << html_escape(strip.value("id", "")) << "</figcaption></figure>\n";
        }
      os << "</body></html>\n";
      break;
    }
  }
  return os.str();
}

}  // namespace ovseg
