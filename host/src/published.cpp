#include "ovseg/host/published.hpp"

#include <algorithm>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "ovseg/host/benchmark_names.hpp"
#include "toml_file.hpp"

namespace fs = std::filesystem;

namespace ovseg {

using detail::where;

std::optional<double> PublishedRow::value(const std::string& metric, const std::string& dataset) const {
  const auto m = values.find(metric);
  if (m == values.end()) return std::nullopt;
  const auto d = m->second.find(dataset);
  if (d == m->second.end()) return std::nullopt;
  return d->second;
}

namespace {

const std::vector<std::string> kMetrics = {"mIoU", "mAcc", "aAcc", "fwIoU"};

std::string required_string(const std::string& file, const toml::table& t, const std::string& key,
                            const std::string& table_name) {
  const auto v = t[key].value<std::string>();
  if (!v || v->empty())
    throw Error(where(file, t), "", table_name + " needs " + key + " = \"...\"", "add the " + key + " key");
  return *v;
}

std::string canonical_dataset(const std::string& file, const toml::node& at, const std::string& key) {
  try {
    return dataset_from_column_name(key);
  } catch (const std::invalid_argument& e) {
    throw Error(where(file, at), "", e.what(), "use a harness data set name (voc21, context60, ...) or a short name");
  }
}

double percent(const std::string& file, const toml::node& v) {
  const auto d = v.value<double>();  // integers convert too
  if (!d || *d < 0 || *d > 100)
    throw Error(where(file, v), "", "a published number must be a percentage in [0, 100]", "write e.g. 64.1");
  return *d;
}

void read_file(const std::string& file, std::vector<PublishedRow>& out, std::set<std::string>& ids) {
  const toml::table root = detail::parse_toml_file(file, "published results");
  detail::check_keys(file, root, "a published results file", {"paper", "row"});
  const toml::table* paper = root["paper"].as_table();
  if (!paper) throw Error({file, 1, 1}, "", "no [paper] table", "add [paper] with key, title, venue, url");
  detail::check_keys(file, *paper, "[paper]", {"key", "title", "venue", "url"});
  const std::string key = required_string(file, *paper, "key", "[paper]");
  const std::string title = required_string(file, *paper, "title", "[paper]");
  const toml::array* rows = root["row"].as_array();
  if (!rows || rows->empty()) throw Error(where(file, *paper), "", "no [[row]]", "add [[row]] tables");
  for (const auto& node : *rows) {
    const toml::table* t = node.as_table();
    if (!t) throw Error(where(file, node), "", "[[row]] entries must be tables", "");
    detail::check_keys(file, *t, "[[row]]",
                       {"id", "method", "backbone", "group", "source", "protocol", "reproduced_by", "mIoU", "mAcc",
                        "aAcc", "fwIoU", "zero_shot", "avg"});
    PublishedRow r;
    r.file = file;
    r.cite = key;
    r.paper_title = title;
    r.venue = (*paper)["venue"].value_or(std::string());
    r.url = (*paper)["url"].value_or(std::string());
    r.id = required_string(file, *t, "id", "[[row]]");
    if (!ids.insert(r.id).second)
      throw Error(where(file, *t), "", "published row id '" + r.id + "' is used twice", "ids must be unique");
    r.method = required_string(file, *t, "method", "[[row]] '" + r.id + "'");
    r.backbone = required_string(file, *t, "backbone", "[[row]] '" + r.id + "'");
    r.group = required_string(file, *t, "group", "[[row]] '" + r.id + "'");
    r.source = required_string(file, *t, "source", "[[row]] '" + r.id + "'");
    r.protocol = (*t)["protocol"].value_or(std::string());
    if (const toml::array* by = (*t)["reproduced_by"].as_array())
      for (const auto& p : *by) r.reproduced_by.push_back(p.value_or(std::string()));
    for (const auto& metric : kMetrics)
      if (const toml::table* m = (*t)[metric].as_table())
        for (const auto& [ds, v] : *m)
          r.values[metric][canonical_dataset(file, v, std::string(ds.str()))] = percent(file, v);
    if (const toml::table* z = (*t)["zero_shot"].as_table())
      for (const auto& [ds, v] : *z) {
        const toml::table* split = v.as_table();
        if (!split) throw Error(where(file, v), "", "zero_shot entries are { seen = .., unseen = .., hIoU = .. }", "");
        detail::check_keys(file, *split, "zero_shot." + std::string(ds.str()), {"seen", "unseen", "hIoU"});
        const std::string d = canonical_dataset(file, v, std::string(ds.str()));
        for (const auto& [k, x] : *split) r.values[std::string(k.str())][d] = percent(file, x);
      }
    if (const toml::table* a = (*t)["avg"].as_table())
      for (const auto& [metric, v] : *a) {
        const std::string m(metric.str());
        if (!r.values.count(m))
          throw Error(where(file, v), "", "avg." + m + " without " + m + " numbers", "list the data sets it averages");
        r.printed_avg[m] = percent(file, v);
      }
    if (r.values.empty())
      throw Error(where(file, *t), "", "published row '" + r.id + "' has no numbers", "add mIoU = { dataset = value }");
    out.push_back(std::move(r));
  }
}

}  // namespace

std::vector<PublishedRow> load_published(const std::string& path) {
  std::vector<std::string> files;
  if (fs::is_directory(path)) {
    for (const auto& e : fs::directory_iterator(path))
      if (e.path().extension() == ".toml") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    if (files.empty()) throw Error({path, 0, 0}, "", "no published results (*.toml) in this folder", "");
  } else {
    files.push_back(path);
  }
  std::vector<PublishedRow> out;
  std::set<std::string> ids;
  for (const auto& f : files) read_file(f, out, ids);
  return out;
}

const PublishedRow& find_published(const std::vector<PublishedRow>& rows, const std::string& id) {
  std::vector<std::string> ids;
  for (const auto& r : rows) {
    if (r.id == id) return r;
    ids.push_back(r.id);
  }
  throw std::invalid_argument("no published row '" + id + "'" + did_you_mean(id, ids));
}

}  // namespace ovseg
