#include "ovseg/host/sweep.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>

#include "ovseg/harness/dataset.hpp"
#include "toml_file.hpp"

namespace fs = std::filesystem;

namespace ovseg {

using detail::relative_to;
using detail::where;

namespace {

// TOML text of a value, as --set parses it back. Floats get the shortest
// text that reads back to the same double (0.05, not 0.050000000000000003),
// so labels look like what the author wrote.
std::string toml_text(const toml::node& n) {
  if (auto d = n.value_exact<double>()) {
    for (int precision = 1; precision <= 17; ++precision) {
      std::ostringstream os;
      os.precision(precision);
      os << *d;
      // "1e+01" reads back as 10 too, but the author wrote 10.0.
      if (os.str().find('e') != std::string::npos && precision < 17) continue;
      if (std::stod(os.str()) == *d) {
        std::string text = os.str();
        if (text.find_first_of(".eEn") == std::string::npos) text += ".0";  // stay a TOML float
        return text;
      }
    }
  }
  std::ostringstream os;
  n.visit([&](const auto& v) { os << v; });
  return os.str();
}

std::string last_part(const std::string& path) { return path.substr(path.rfind('.') + 1); }

// An override's value as toml_text writes it: TOML when it parses, else the
// bare word as a TOML string (as --set reads it).
std::string canonical_value(const std::string& value_text) {
  try {
    const toml::table t = toml::parse("v = " + value_text);
    if (const toml::node* v = t.get("v")) return toml_text(*v);
  } catch (const toml::parse_error&) {
  }
  return toml_text(toml::value<std::string>(value_text));
}

const toml::node* at_path(const toml::table& root, const std::vector<std::string>& path) {
  const toml::node* n = &root;
  for (const auto& part : path) {
    const toml::table* t = n->as_table();
    if (!t) return nullptr;
    n = t->get(part);
    if (!n) return nullptr;
  }
  return n;
}

// A string value naming a file or folder that exists relative to the sweep
// file, as the TOML text of its absolute path; any other value unchanged.
std::string resolved_from_sweep(const std::string& sweep_file, const std::string& value_text) {
  std::optional<std::string> text;
  try {
    const toml::table t = toml::parse("v = " + value_text);
    text = t["v"].value<std::string>();
  } catch (const toml::parse_error&) {
    text = value_text;  // a bare word, as --set reads it
  }
  if (!text || text->empty() || fs::path(*text).is_absolute()) return value_text;
  std::error_code ec;
  const fs::path p = fs::path(sweep_file).parent_path() / *text;
  if (!fs::exists(p, ec)) return value_text;
  return toml_text(toml::value<std::string>(fs::absolute(p).lexically_normal().string()));
}

}  // namespace

SweepSpec load_sweep(const std::string& path) {
  const toml::table root = detail::parse_toml_file(path, "sweep");
  SweepSpec spec;
  spec.file = path;
  spec.name = fs::path(path).stem().string();
  const std::vector<std::string> tables = {"sweep", "data_roots", "axes"};
  for (const auto& [k, v] : root)
    if (std::find(tables.begin(), tables.end(), std::string(k.str())) == tables.end())
      throw Error(where(path, v), "",
                  "unknown table '" + std::string(k.str()) + "'" + did_you_mean(std::string(k.str()), tables),
                  "a sweep has [sweep], [data_roots] and [axes]");

  const toml::table* sweep = root["sweep"].as_table();
  if (!sweep) throw Error({path, 1, 1}, "", "no [sweep] table", "add [sweep] with pipeline = and datasets =");
  detail::check_keys(path, *sweep, "[sweep]", {"name", "pipeline", "datasets", "limit", "unset", "set", "train"});
  if (auto n = (*sweep)["name"].value<std::string>()) spec.name = *n;
  auto pipeline = (*sweep)["pipeline"].value<std::string>();
  if (!pipeline)
    throw Error(where(path, *sweep), "", "[sweep] needs pipeline = \"base.toml\"", "name the base pipeline");
  spec.pipeline = relative_to(path, *pipeline);
  if (!fs::is_regular_file(spec.pipeline))
    throw Error(where(path, *sweep->get("pipeline")), "", "base pipeline " + spec.pipeline + " not found",
                "paths are relative to the sweep file");
  const toml::array* datasets = (*sweep)["datasets"].as_array();
  if (!datasets || datasets->empty())
    throw Error(where(path, *sweep), "", "[sweep] needs datasets = [\"...\"]", "list at least one data set");
  for (const auto& d : *datasets) {
    if (!d.is_string()) throw Error(where(path, d), "", "datasets must be strings", "quote the names");
    spec.datasets.push_back(d.as_string()->get());
  }
  if (auto l = (*sweep)["limit"].value<int64_t>()) spec.limit = *l;
  if (const toml::node* t = sweep->get("train")) {
    if (!t->is_string() || t->as_string()->get().empty())
      throw Error(where(path, *t), "", "train must name the data set every point trains on",
                  "write train = \"world\" (its root comes from [data_roots] or --data-root)");
    spec.train = t->as_string()->get();
  }
  if (const toml::node* u = sweep->get("unset")) {
    const toml::array* keys = u->as_array();
    if (!keys) throw Error(where(path, *u), "", "unset must be an array of keys", "write unset = [\"nodes.x.p\"]");
    for (const auto& k : *keys) {
      if (!k.is_string()) throw Error(where(path, k), "", "unset entries must be strings", "quote them");
      try {
        spec.fixed.push_back(parse_unset(k.as_string()->get()));
      } catch (const Error& e) {
        throw Error(where(path, k), e.node(), e.problem(), e.fix());
      }
    }
  }
  for (Override& o : detail::read_set_overrides(path, *sweep)) {
    const std::string key = o.original.substr(0, o.original.find('='));
    const std::string value = resolved_from_sweep(path, o.value_text);
    if (value != o.value_text) o = parse_override(key + "=" + value);
    spec.fixed.push_back(std::move(o));
  }

  if (const toml::table* roots = root["data_roots"].as_table())
    for (const auto& [k, v] : *roots) {
      if (!v.is_string()) throw Error(where(path, v), "", "data root must be a string path", "quote it");
      spec.data_roots[std::string(k.str())] = relative_to(path, v.as_string()->get());
    }

  const toml::table* axes = root["axes"].as_table();
  if (!axes || axes->empty()) throw Error({path, 1, 1}, "", "no [axes]", "add \"nodes.X.param\" = [values...]");
  for (const auto& [k, v] : *axes) {
    SweepAxis axis;
    axis.path = std::string(k.str());
    const toml::array* values = v.as_array();
    if (!values || values->empty())
      throw Error(where(path, v), "", "axis '" + axis.path + "' must be a non-empty array of values",
                  "write \"" + axis.path + "\" = [a, b, c]");
    for (const auto& x : *values) {
      axis.written.push_back(toml_text(x));
      axis.values.push_back(resolved_from_sweep(path, axis.written.back()));
    }
    parse_override(axis.path + "=" + axis.values.front());  // path syntax check
    spec.axes.push_back(std::move(axis));
  }
  // toml++ iterates keys in order; keep the file's order of axes instead.
  std::sort(spec.axes.begin(), spec.axes.end(), [&](const SweepAxis& a, const SweepAxis& b) {
    return axes->get(a.path)->source().begin < axes->get(b.path)->source().begin;
  });
  return spec;
}

std::vector<SweepPoint> sweep_points(const SweepSpec& spec) {
  std::vector<SweepPoint> points(1);
  points[0].overrides = spec.fixed;
  for (const auto& axis : spec.axes) {
    std::vector<SweepPoint> next;
    for (const auto& p : points)
      for (size_t v = 0; v < axis.values.size(); ++v) {
        SweepPoint q = p;
        q.overrides.push_back(parse_override(axis.path + "=" + axis.values[v]));
        q.values.push_back(axis.written[v]);
        q.label += (q.label.empty() ? "" : ", ") + last_part(axis.path) + "=" + axis.written[v];
        next.push_back(std::move(q));
      }
    points = std::move(next);
  }
  return points;
}

}  // namespace ovseg

namespace ovseg {

std::optional<size_t> sweep_point_of(const SweepSpec& spec, const std::vector<SweepPoint>& points,
                                     const std::string& resolved_toml) {
  toml::table root;
  try {
    root = toml::parse(resolved_toml);
  } catch (const toml::parse_error&) {
    return std::nullopt;
  }
  for (const auto& o : spec.fixed) {
    const toml::node* n = at_path(root, o.path);
    if (o.unset) {
      if (n) return std::nullopt;  // the point deletes this key
      continue;
    }
    if (!n || toml_text(*n) != canonical_value(o.value_text)) return std::nullopt;
  }
  std::vector<std::string> values;
  for (const auto& axis : spec.axes) {
    const toml::node* n = at_path(root, parse_override(axis.path + "=" + axis.values.front()).path);
    if (!n) return std::nullopt;
    values.push_back(toml_text(*n));
  }
  for (size_t i = 0; i < points.size(); ++i) {
    bool same = true;
    for (size_t a = 0; a < spec.axes.size() && same; ++a)
      same = canonical_value(points[i].overrides[spec.fixed.size() + a].value_text) == values[a];
    if (same) return i;
  }
  return std::nullopt;
}

AblationInput ablation_from_records(const SweepSpec& spec, const std::vector<nlohmann::json>& records,
                                    const std::string& precision) {
  const std::string base = load_pipeline_spec(spec.pipeline, spec.fixed).name;
  const std::vector<SweepPoint> points = sweep_points(spec);
  AblationInput in;
  in.name = spec.name;
  for (const auto& a : spec.axes) in.axes.push_back(a.path);
  in.points.resize(points.size());
  for (size_t i = 0; i < points.size(); ++i) in.points[i].values = points[i].values;
  // Per point and data set, the record to show.
  std::map<std::pair<size_t, std::string>, nlohmann::json> chosen;
  const auto better = [&](const nlohmann::json& a, const nlohmann::json& b) {  // is a preferable to b?
    const auto limit_of = [](const nlohmann::json& r) {
      const auto& l = r.at("selection").at("limit");
      return l.is_null() ? -1L : l.get<long>();
    };
    const bool a_limit = limit_of(a) == spec.limit, b_limit = limit_of(b) == spec.limit;
    if (a_limit != b_limit) return a_limit;
    return a.value("date", "") > b.value("date", "");
  };
  for (const auto& r : records) {
    if (r.at("pipeline").at("name") != base) continue;
    if (r.at("selection").at("shard").at("count").get<int>() > 1) continue;
    if (r.value("precision", std::string("fp32")) != precision) continue;  // records from before --precision: fp32
    const std::string ds = r.at("dataset").at("name");
    if (std::find(spec.datasets.begin(), spec.datasets.end(), ds) == spec.datasets.end()) {
      bool alias = false;  // the sweep may name the data set by an alias
      for (const auto& d : spec.datasets) try {
          alias |= harness::canonical_dataset_name(d) == ds;
        } catch (const std::invalid_argument&) {
        }
      if (!alias) continue;
    }
    const auto point = sweep_point_of(spec, points, r.at("pipeline").value("resolved_toml", std::string()));
    if (!point) continue;
    auto& slot = chosen[{*point, ds}];
    if (slot.is_null() || better(r, slot)) slot = r;
  }
  for (auto& [key, r] : chosen) in.points[key.first].records.push_back(std::move(r));
  return in;
}

bool label_sweep_point(nlohmann::json& record, const std::string& sweep, const std::string& label) {
  nlohmann::json entries = record.value("sweep_points", nlohmann::json::array());
  if (!entries.is_array()) entries = nlohmann::json::array();
  const nlohmann::json mine = {{"sweep", sweep}, {"label", label}};
  if (!entries.empty() && entries.back() == mine) return false;
  nlohmann::json kept = nlohmann::json::array();
  for (const auto& e : entries)
    if (!(e.is_object() && e.value("sweep", "") == sweep)) kept.push_back(e);
  kept.push_back(mine);
  record["sweep_points"] = kept;
  return true;
}

std::string sweep_label(const nlohmann::json& record) {
  const nlohmann::json entries = record.value("sweep_points", nlohmann::json::array());
  if (!entries.is_array() || entries.empty() || !entries.back().is_object()) return "";
  return entries.back().value("label", "");
}

}  // namespace ovseg
