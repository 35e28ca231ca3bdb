#include "table_records.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "ovseg/host/benchmark_names.hpp"
#include "ovseg/host/sweep.hpp"

namespace ovseg::tables {

using nlohmann::json;

namespace {

std::string value_text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

std::string knobs_text(const json& protocol) {
  std::string s;
  for (const auto& [k, v] : protocol.items()) s += (s.empty() ? "" : ", ") + k + "=" + value_text(v);
  return s;
}

std::string limit_text(const json& r) {
  const json& l = r.at("selection").at("limit");
  return l.is_null() ? "all" : l.dump();
}

// A TOML value as its author would write it: strings bare, floats in the
// shortest form that reads back the same (0.1, not 0.10000000000000001).
std::string toml_value_text(const toml::node& v) {
  if (auto s = v.value_exact<std::string>()) return *s;
  if (auto d = v.value_exact<double>()) {
    for (int precision = 1; precision <= 17; ++precision) {
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.*g", precision, *d);
      std::string text = buf;
      if (std::strtod(buf, nullptr) != *d || (text.find('e') != std::string::npos && precision < 17)) continue;
      if (text.find_first_of(".en") == std::string::npos) text += ".0";  // still reads as a float
      return text;
    }
  }
  std::ostringstream os;
  v.visit([&](const auto& x) { os << x; });
  return os.str();
}

// What decides reproducibility besides the protocol (DESIGN.md section 6):
// prompt templates, logit scale, background threshold, postprocessing, read
// from the resolved pipeline TOML the record stores.
std::string pipeline_knobs(const json& record) {
  const std::string text = record.at("pipeline").value("resolved_toml", std::string());
  if (text.empty()) return "";
  toml::table root;
  try {
    root = toml::parse(text);
  } catch (const toml::parse_error&) {
    return "";
  }
  std::vector<std::string> parts;
  std::vector<std::string> post;
  if (const toml::table* nodes = root["nodes"].as_table())
    for (const auto& [id, node] : *nodes) {
      const toml::table* t = node.as_table();
      if (!t) continue;
      const std::string plugin = (*t)["plugin"].value_or(std::string());
      if (plugin == "pamr" || plugin == "densecrf") post.push_back(plugin);
      for (const char* key : {"templates", "logit_scale", "probability_threshold"})
        if (const toml::node* v = t->get(key)) {
          const std::string entry = std::string(key) + " " + toml_value_text(*v);
          if (std::find(parts.begin(), parts.end(), entry) == parts.end()) parts.push_back(entry);
        }
    }
  std::string s;
  for (const auto& p : parts) s += (s.empty() ? "" : ", ") + p;
  std::string pp;
  for (const auto& p : post) pp += (pp.empty() ? "" : " + ") + p;
  s += std::string(s.empty() ? "" : ", ") + "postprocess " + (pp.empty() ? "none" : pp);
  return s;
}

std::string weights_text(const json& record) {
  std::string s;
  std::set<std::string> seen;
  for (const auto& m : record.value("models", json::array())) {
    const std::string file = m.value("file", m.value("value", std::string()));
    if (file.empty() || !seen.insert(file).second) continue;
    s += (s.empty() ? "" : ", ") + std::filesystem::path(file).filename().string();
    if (m.contains("sha256")) s += " (sha256 " + m.at("sha256").get<std::string>().substr(0, 8) + ")";
  }
  return s;
}

}  // namespace

namespace {

// The vocabulary a record was scored under: its hash, or "unchecked" for
// records from before the data set owned the vocabulary.
std::string vocabulary_id(const json& r) {
  const json v = r.value("vocabulary", json());
  return v.is_object() && v.contains("sha256") ? v.at("sha256").get<std::string>().substr(0, 8) : "unchecked";
}

// Every parameter of the resolved pipeline's nodes as "node.key" -> value text.
std::map<std::string, std::string> node_parameters(const json& record) {
  std::map<std::string, std::string> out;
  toml::table root;
  try {
    root = toml::parse(record.at("pipeline").value("resolved_toml", std::string()));
  } catch (const toml::parse_error&) {
    return out;
  }
  if (const toml::table* nodes = root["nodes"].as_table())
    for (const auto& [id, node] : *nodes)
      if (const toml::table* t = node.as_table())
        for (const auto& [key, v] : *t) out[std::string(id.str()) + "." + std::string(key.str())] = toml_value_text(v);
  return out;
}

// The two rows' records on one data set both have, else their first ones.
std::pair<const json*, const json*> comparable_records(const RecordRow& a, const RecordRow& b) {
  for (const auto& [ds, r] : a.by_dataset)
    if (const auto it = b.by_dataset.find(ds); it != b.by_dataset.end()) return {&r, &it->second};
  return {&a.by_dataset.begin()->second, &b.by_dataset.begin()->second};
}

// The precision a row's encoders and refinements ran in (`--precision`);
// records from before the field ran in fp32.
std::string row_precision(const RecordRow& row) {
  return row.by_dataset.empty() ? "fp32" : row.by_dataset.begin()->second.value("precision", "fp32");
}

}  // namespace

std::vector<RecordRow> group_record_rows(const std::vector<json>& records, int* skipped_shards) {
  std::vector<RecordRow> rows;
  // A data set whose records were scored under different vocabularies gets
  // a column per vocabulary ("voc21#1a2b3c4d"): never one header over both.
  std::map<std::string, std::set<std::string>> vocabularies;
  for (const auto& r : records) vocabularies[r.at("dataset").at("name").get<std::string>()].insert(vocabulary_id(r));
  for (const auto& r : records) {
    if (r.at("selection").at("shard").at("count").get<int>() > 1) {
      ++*skipped_shards;
      continue;
    }
    // One row per pipeline as written (family_sha256: before any data set's
    // own settings), so a method's per-data-set settings fill one row.
    const std::string name = r.at("pipeline").at("name");
    const std::string sha = r.at("pipeline").value("family_sha256", r.at("pipeline").at("sha256").get<std::string>());
    const std::string limit = limit_text(r);
    auto it = std::find_if(rows.begin(), rows.end(),
                           [&](const RecordRow& x) { return x.name == name && x.sha == sha && x.limit == limit; });
    if (it == rows.end()) {
      rows.push_back({name, sha, limit, r.at("protocol"), {}, name, r.value("date", "")});
      it = rows.end() - 1;
    }
    it->first_date = std::min(it->first_date, r.value("date", ""));
    std::string ds = r.at("dataset").at("name");
    if (vocabularies[ds].size() > 1) ds += "#" + vocabulary_id(r);
    auto& slot = it->by_dataset[ds];
    if (slot.is_null() || slot.value("date", "") < r.value("date", "")) slot = r;
  }
  // Tag rows that share a name with what tells them apart.
  std::map<std::string, std::vector<RecordRow*>> same_name;
  for (auto& row : rows) same_name[row.name].push_back(&row);
  for (auto& [name, group] : same_name) {
    if (group.size() < 2) continue;
    std::set<std::string> differing, parameters;
    for (const RecordRow* other : group) {
      const auto [a, b] = comparable_records(*group[0], *other);
      for (const auto& [k, v] : a->at("protocol").items())
        if (b->at("protocol").value(k, json()) != v) differing.insert(k);
      auto pa = node_parameters(*a), pb = node_parameters(*b);
      for (const auto& [k, v] : pa)
        if (!pb.count(k) || pb.at(k) != v) parameters.insert(k);
      for (const auto& [k, v] : pb)
        if (!pa.count(k)) parameters.insert(k);
    }
    bool limits_differ = false, precisions_differ = false;
    for (const RecordRow* other : group) limits_differ |= other->limit != group[0]->limit;
    for (const RecordRow* other : group) precisions_differ |= row_precision(*other) != row_precision(*group[0]);
    for (RecordRow* row : group) {
      // fp32 and bf16 runs of one pipeline: "naclip [bf16]" beside "naclip [fp32]".
      const std::string precision = precisions_differ ? row_precision(*row) : "";
      // A sweep's point is named by its label ("gaussian_std=3.0"), the
      // newest sweep's that labelled any of the row's records.
      std::string swept;
      for (const auto& [ds, r] : row->by_dataset)
        if (const std::string l = sweep_label(r); !l.empty()) swept = l;
      if (!swept.empty()) {
        row->label = name + " [" + swept + (precision.empty() ? "" : ", " + precision) + "]";
        continue;
      }
      std::string tag = precision;
      for (const auto& k : differing) tag += (tag.empty() ? "" : ", ") + k + "=" + value_text(row->protocol[k]);
      if (limits_differ) tag += (tag.empty() ? "" : ", ") + std::string("limit=") + row->limit;
      if (tag == precision && !parameters.empty() && parameters.size() <= 3) {
        // Same protocol, other node parameters: name them with this row's values.
        const auto mine = node_parameters(row->by_dataset.begin()->second);
        for (const auto& k : parameters)
          tag += (tag.empty() ? "" : ", ") + k + "=" + (mine.count(k) ? mine.at(k) : std::string("(none)"));
      }
      if (tag.empty()) tag = "toml " + row->sha.substr(0, 8);  // same protocol, other parameters
      row->label = name + " [" + tag + "]";
    }
  }
  std::stable_sort(rows.begin(), rows.end(), [](const RecordRow& a, const RecordRow& b) {
    return a.first_date != b.first_date ? a.first_date < b.first_date : a.label < b.label;
  });
  return rows;
}

std::optional<double> record_metric(const json& record, const std::string& metric) {
  const json* v = nullptr;
  if (metric == "seen" || metric == "unseen" || metric == "hIoU") {
    const json z = record.value("zero_shot", json());
    if (!z.is_object()) return std::nullopt;
    const std::string key = metric == "hIoU" ? "hIoU" : "mIoU_" + metric;
    if (!z.contains(key)) return std::nullopt;
    v = &record.at("zero_shot").at(key);
  } else {
    const json& m = record.at("metrics");
    if (!m.contains(metric)) return std::nullopt;
    v = &m.at(metric);
  }
  if (!v->is_number() || std::isnan(v->get<double>())) return std::nullopt;
  return v->get<double>();
}

std::string format_number(std::optional<double> v, int decimals) {
  if (!v) return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, *v);
  // "-0.0" reads as a loss where there is none.
  if (std::string(buf).find_first_not_of("-0.") == std::string::npos && buf[0] == '-') return buf + 1;
  return buf;
}

std::vector<std::string> protocol_footer(const std::vector<const RecordRow*>& rows, bool per_row) {
  std::vector<std::string> out;
  if (rows.empty()) return out;
  // Per data set settings make one row's protocols differ between columns:
  // each is listed where it applies.
  std::set<std::string> distinct;
  for (const auto* row : rows)
    for (const auto& [ds, r] : row->by_dataset) distinct.insert(r.at("protocol").dump());
  if (distinct.size() == 1) {
    out.push_back("protocol (every reproduced row): " + knobs_text(rows[0]->protocol));
  } else {
    for (const auto* row : rows) {
      std::set<std::string> own;
      for (const auto& [ds, r] : row->by_dataset) own.insert(r.at("protocol").dump());
      if (own.size() == 1) {
        out.push_back("protocol of " + row->label + ": " + knobs_text(row->by_dataset.begin()->second.at("protocol")));
        continue;
      }
      for (const auto& [ds, r] : row->by_dataset)
        out.push_back("protocol of " + row->label + " on " + dataset_short_name(ds) + ": " +
                      knobs_text(r.at("protocol")));
    }
  }
  for (const auto* row : rows) {
    std::string s = per_row ? row->label + ":" : "first point (" + row->label + "):";
    for (const auto& [ds, r] : row->by_dataset)
      s += " " + dataset_short_name(ds) + " " + r.at("selection").at("num_images").dump() + " images (" +
           r.at("dataset").at("split").get<std::string>() + ", limit " + row->limit + ");";
    const json& any = row->by_dataset.begin()->second;
    const std::string knobs = pipeline_knobs(any), weights = weights_text(any);
    bool same_knobs = true;
    for (const auto& [ds, r] : row->by_dataset) same_knobs &= pipeline_knobs(r) == knobs;
    if (same_knobs && !knobs.empty()) s += " " + knobs + ";";
    if (!same_knobs)
      for (const auto& [ds, r] : row->by_dataset) s += " " + dataset_short_name(ds) + ": " + pipeline_knobs(r) + ";";
    if (!weights.empty()) s += " weights " + weights + ";";
    if (const std::string p = any.value("precision", "fp32"); p != "fp32")
      s += " encoders and refinements in " + p + " (--precision);";
    s += " pipeline sha256 " + row->sha.substr(0, 12);
    out.push_back(s);
    if (!per_row) break;
  }
  return out;
}

std::string protocol_sentence(const std::vector<const RecordRow*>& rows) {
  if (rows.empty()) return "";
  std::set<std::string> distinct;
  for (const auto* row : rows)
    for (const auto& [ds, r] : row->by_dataset) distinct.insert(r.at("protocol").dump());
  if (distinct.size() > 1) return "Reproduced rows differ in protocol (listed per row below the table).";
  const json& p = rows[0]->protocol;
  std::string s = "Reproduced rows: one harness for every method, ";
  if (p.value("mode", "slide") == "slide")
    s += "short side " + value_text(p.value("short_side", json("?"))) + ", " +
         value_text(p.value("window", json("?"))) + "/" + value_text(p.value("stride", json("?"))) + " sliding window";
  else
    s += "whole image, short side " + value_text(p.value("short_side", json("?")));
  const double thd = p.value("prob_thd", 0.0);
  if (thd > 0) s += ", background below probability " + value_text(p.at("prob_thd"));
  return s + ".";
}

void rank_columns(ComparisonTable& t) {
  const double scale = std::pow(10.0, t.decimals);
  for (size_t c = 0; c < t.columns.size(); ++c) {
    if (!t.columns[c].ranked) continue;
    std::vector<long long> values;  // at the printed precision
    for (const auto& row : t.rows)
      if (row.cells[c].value) values.push_back(std::llround(*row.cells[c].value * scale));
    if (values.size() < 2) continue;
    std::sort(values.begin(), values.end(), std::greater<>());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    if (values.size() < 2) continue;  // every row prints the same number: nothing is best
    for (auto& row : t.rows) {
      auto& cell = row.cells[c];
      cell.rank = 0;
      if (!cell.value) continue;
      const long long v = std::llround(*cell.value * scale);
      if (v == values[0])
        cell.rank = 1;
      else if (values.size() > 1 && v == values[1])
        cell.rank = 2;
    }
  }
}

}  // namespace ovseg::tables
