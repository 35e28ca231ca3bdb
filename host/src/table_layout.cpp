#include "ovseg/host/table_layout.hpp"

#include <filesystem>
#include <fstream>

#include "ovseg/host/demo_spec.hpp"
#include "toml_file.hpp"

namespace fs = std::filesystem;

namespace ovseg {

using detail::where;

bool TableLayout::names_published() const {
  for (const auto& g : groups)
    for (const auto& r : g.rows)
      if (!r.published.empty()) return true;
  return false;
}

namespace {

RowEntry read_entry(const std::string& file, const toml::node& n) {
  if (const auto s = n.value_exact<std::string>()) return {*s, "", ""};
  const toml::table* t = n.as_table();
  if (!t) throw Error(where(file, n), "", "a row is a pipeline name or { pipeline, published, label }", "");
  detail::check_keys(file, *t, "a row", {"pipeline", "published", "label"});
  RowEntry e{(*t)["pipeline"].value_or(std::string()), (*t)["published"].value_or(std::string()),
             (*t)["label"].value_or(std::string())};
  if (e.pipeline.empty() && e.published.empty())
    throw Error(where(file, n), "", "a row needs pipeline = \"...\" or published = \"...\"", "");
  return e;
}

TableLayout read_layout_toml(const std::string& file, const toml::table& root) {
  TableLayout layout;
  detail::check_keys(file, root, "a table layout", {"table", "group"});
  if (const toml::table* t = root["table"].as_table()) {
    detail::check_keys(file, *t, "[table]", {"datasets", "metric", "avg", "decimals", "caption"});
    if (const toml::array* d = (*t)["datasets"].as_array())
      for (const auto& x : *d) layout.datasets.push_back(x.value_or(std::string()));
    layout.metric = (*t)["metric"].value_or(std::string());
    layout.caption = (*t)["caption"].value_or(std::string());
    layout.decimals = static_cast<int>((*t)["decimals"].value_or(int64_t{-1}));
    if (const toml::node* a = t->get("avg")) {
      if (const toml::array* list = a->as_array()) {
        for (const auto& x : *list) layout.avg_over.push_back(x.value_or(std::string()));
      } else {
        layout.avg = a->value_or(std::string());
      }
    }
  }
  if (const toml::array* groups = root["group"].as_array())
    for (const auto& g : *groups) {
      const toml::table* t = g.as_table();
      if (!t) throw Error(where(file, g), "", "[[group]] entries must be tables", "");
      detail::check_keys(file, *t, "[[group]]", {"name", "rows"});
      RowGroup group{(*t)["name"].value_or(std::string()), {}};
      const toml::array* rows = (*t)["rows"].as_array();
      if (!rows || rows->empty()) throw Error(where(file, g), "", "[[group]] needs rows = [...]", "list its rows");
      for (const auto& r : *rows) group.rows.push_back(read_entry(file, r));
      layout.groups.push_back(std::move(group));
    }
  return layout;
}

// One name per line; "[Group]" headers; "published:ID"; "#" comments.
TableLayout read_layout_text(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw Error({file, 0, 0}, "", "cannot read the rows file", "check the path");
  TableLayout layout;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (const auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    const auto b = line.find_first_not_of(" \t\r"), e = line.find_last_not_of(" \t\r");
    if (b == std::string::npos) continue;
    line = line.substr(b, e - b + 1);
    if (line.front() == '[' && line.back() == ']') {
      layout.groups.push_back({line.substr(1, line.size() - 2), {}});
      continue;
    }
    if (layout.groups.empty()) layout.groups.push_back({"", {}});
    if (line.rfind("published:", 0) == 0) {
      if (line.size() == 10)
        throw Error({file, number, 1}, "", "published: needs a row id", "e.g. published:naclip-pamr-b16");
      layout.groups.back().rows.push_back({"", line.substr(10), ""});
    } else {
      layout.groups.back().rows.push_back({line, "", ""});
    }
  }
  if (layout.groups.empty()) throw Error({file, 0, 0}, "", "the rows file names no row", "one pipeline name per line");
  return layout;
}

}  // namespace

TableLayout load_table_layout(const std::string& path) {
  if (fs::path(path).extension() != ".toml") return read_layout_text(path);
  const toml::table root = detail::parse_toml_file(path, "rows");
  if (root.contains("sweep")) {
    TableLayout layout;
    layout.sweep = load_sweep(path);
    return layout;
  }
  if (root.contains("demo")) {
    TableLayout layout;
    layout.groups.push_back({"", {}});
    for (const auto& run : load_demo_spec(path).runs) layout.groups.back().rows.push_back({run.name, "", ""});
    return layout;
  }
  if (root.contains("table") || root.contains("group")) return read_layout_toml(path, root);
  throw Error({path, 1, 1}, "", "not a rows file: no [table] / [[group]], [demo] or [sweep]",
              "see host/include/ovseg/host/table_layout.hpp");
}

}  // namespace ovseg
