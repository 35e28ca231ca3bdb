#include "ovseg/host/sweep.hpp"

#include <algorithm>
#include <filesystem>
#include <sstream>

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

}  // namespace

SweepSpec load_sweep(const std::string& path) {
  const toml::table root = detail::parse_toml_file(path, "sweep");
  SweepSpec spec;
  spec.file = path;
  spec.name = fs::path(path).stem().string();
  const std::vector<std::string> tables = {"sweep", "data_roots", "axes"};
  for (const auto& [k, v] : root)
    if (std::find(tables.begin(), tables.end(), std::string(k.str())) == tables.end())
      throw Error(where(path, v), "", "unknown table '" + std::string(k.str()) + "'" + did_you_mean(std::string(k.str()), tables),
                  "a sweep has [sweep], [data_roots] and [axes]");

  const toml::table* sweep = root["sweep"].as_table();
  if (!sweep) throw Error({path, 1, 1}, "", "no [sweep] table", "add [sweep] with pipeline = and datasets =");
  detail::check_keys(path, *sweep, "[sweep]", {"name", "pipeline", "datasets", "limit", "set", "train"});
  if (auto n = (*sweep)["name"].value<std::string>()) spec.name = *n;
  auto pipeline = (*sweep)["pipeline"].value<std::string>();
  if (!pipeline) throw Error(where(path, *sweep), "", "[sweep] needs pipeline = \"base.toml\"", "name the base pipeline");
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
  spec.fixed = detail::read_set_overrides(path, *sweep);

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
    for (const auto& x : *values) axis.values.push_back(toml_text(x));
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
      for (const auto& value : axis.values) {
        SweepPoint q = p;
        q.overrides.push_back(parse_override(axis.path + "=" + value));
        q.label += (q.label.empty() ? "" : ", ") + last_part(axis.path) + "=" + value;
        next.push_back(std::move(q));
      }
    points = std::move(next);
  }
  return points;
}

}  // namespace ovseg
