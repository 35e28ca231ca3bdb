#include "toml_file.hpp"

#include <algorithm>
#include <filesystem>

namespace fs = std::filesystem;

namespace ovseg::detail {

toml::table parse_toml_file(const std::string& path, const std::string& what) {
  if (!fs::is_regular_file(path))
    throw Error({path, 0, 0}, "", what + " file not found",
                "check the path (relative paths start at the current directory)");
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw Error({path, static_cast<int>(e.source().begin.line), static_cast<int>(e.source().begin.column)}, "",
                "TOML syntax error: " + std::string(e.description()), "correct the TOML syntax at this position");
  }
}

SourceLocation where(const std::string& file, const toml::node& n) {
  return {file, static_cast<int>(n.source().begin.line), static_cast<int>(n.source().begin.column)};
}

std::string relative_to(const std::string& file, const std::string& path) {
  if (fs::path(path).is_absolute()) return path;
  return (fs::path(file).parent_path() / path).lexically_normal().string();
}

void check_keys(const std::string& file, const toml::table& t, const std::string& table_name,
                const std::vector<std::string>& allowed) {
  for (const auto& [k, v] : t) {
    const std::string key(k.str());
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      throw Error(where(file, v), "", "unknown key '" + key + "' in " + table_name + did_you_mean(key, allowed),
                  table_name + " accepts " + list);
    }
  }
}

std::vector<Override> read_set_overrides(const std::string& file, const toml::table& table) {
  std::vector<Override> out;
  const toml::node* set = table.get("set");
  if (!set) return out;
  const toml::array* items = set->as_array();
  if (!items)
    throw Error(where(file, *set), "", "set must be an array of \"path=value\" strings",
                "write set = [\"nodes.x.p=1\"]");
  for (const auto& item : *items) {
    if (!item.is_string()) throw Error(where(file, item), "", "set entries must be strings", "quote them");
    try {
      out.push_back(parse_override(item.as_string()->get()));
    } catch (const Error& e) {  // parse_override names "--set ..."; name the file's line instead
      throw Error(where(file, item), e.node(), e.problem(), e.fix());
    }
  }
  return out;
}

}  // namespace ovseg::detail
