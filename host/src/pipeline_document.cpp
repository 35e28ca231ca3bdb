// base chains, per-dataset settings and command-line edits on the TOML
// document of a pipeline (pipeline_document.hpp). Values are moved, never
// copied, between documents: toml++ keeps a node's file and line only on a
// move, and every error must still name where a value was written.
#include "pipeline_document.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ovseg/harness/dataset.hpp"

namespace ovseg::detail {

namespace fs = std::filesystem;

SourceLocation LocationTracker::at(const toml::node& n) const {
  if (auto it = overridden.find(&n); it != overridden.end()) return {it->second, 0, 0};
  const auto& src = n.source();
  return {src.path ? std::string(*src.path) : file, static_cast<int>(src.begin.line),
          static_cast<int>(src.begin.column)};
}

int LocationTracker::rank(const SourceLocation& where) const {
  const auto it = file_rank.find(where.file);
  return it == file_rank.end() ? -1 : it->second;
}

namespace {

const std::vector<std::string> kDatasetTableKeys = {"protocol", "nodes", "outputs", "vocabulary", "unset"};

std::string rewrite_parse_error(const toml::parse_error& e, std::string* node_id, std::string* fix) {
  std::string desc(e.description());
  // toml++ reports a repeated [nodes.x] header as a table redefinition.
  const std::string marker = "'nodes.";
  auto pos = desc.find(marker);
  if ((desc.find("redefin") != std::string::npos) && pos != std::string::npos) {
    auto end = desc.find('\'', pos + marker.size());
    *node_id = desc.substr(pos + marker.size(), end - pos - marker.size());
    *fix = "node ids must be unique: rename one of the [nodes." + *node_id + "] tables";
    return "duplicate node id '" + *node_id + "'";
  }
  *fix = "correct the TOML syntax at this position";
  return "TOML syntax error: " + desc;
}

toml::table parse_text(const std::string& text, const std::string& file) {
  try {
    return toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    std::string node, fix;
    std::string problem = rewrite_parse_error(e, &node, &fix);
    throw Error({file, static_cast<int>(e.source().begin.line), static_cast<int>(e.source().begin.column)}, node,
                problem, fix);
  }
}

std::vector<std::string> split_dotted(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t dot = text.find('.', start);
    parts.push_back(text.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

// Moves every key of `src` into `dst`: tables merge key by key, anything
// else (values, arrays) replaces what `dst` had.
void merge_into(toml::table& dst, toml::table&& src) {
  for (auto&& [key, value] : src) {
    const std::string k(key.str());
    toml::node* existing = dst.get(k);
    if (existing != nullptr && existing->is_table() && value.is_table()) {
      merge_into(*existing->as_table(), std::move(*value.as_table()));
      continue;
    }
    value.visit([&](auto&& v) { dst.insert_or_assign(k, std::move(v)); });
  }
}

// Deletes the key at `path` (a table or a value); it must exist.
void delete_path(toml::table& root, const std::vector<std::string>& path, const SourceLocation& where,
                 const std::string& written) {
  const std::string node_id = path.size() >= 2 && path[0] == "nodes" ? path[1] : "";
  toml::table* table = &root;
  for (size_t i = 0; i < path.size(); ++i) {
    std::vector<std::string> keys;
    for (const auto& [k, v] : *table) keys.emplace_back(k.str());
    toml::node* child = path[i].empty() ? nullptr : table->get(path[i]);
    if (child == nullptr || (i + 1 < path.size() && !child->is_table()))
      throw Error(where, node_id,
                  "unset '" + written + "' names '" + path[i] + "', which the pipeline does not have" +
                      did_you_mean(path[i], keys),
                  "check the key with `ovseg check PIPELINE.toml --print`");
    if (i + 1 == path.size()) {
      table->erase(path[i]);
      return;
    }
    table = child->as_table();
  }
}

// `unset = ["a.b", ...]` taken out of `t` (absent: none).
std::vector<std::pair<std::string, SourceLocation>> take_unset_list(toml::table& t, const LocationTracker& loc,
                                                                    const std::string& where_text) {
  std::vector<std::pair<std::string, SourceLocation>> out;
  toml::node* n = t.get("unset");
  if (n == nullptr) return out;
  const toml::array* arr = n->as_array();
  if (arr == nullptr)
    throw Error(loc.at(*n), "", where_text + "unset must be an array of dotted keys",
                "write unset = [\"nodes.refine.attention\"]");
  for (const auto& e : *arr) {
    if (!e.is_string() || e.as_string()->get().empty())
      throw Error(loc.at(e), "", where_text + "unset entries must be dotted keys (strings)",
                  "write unset = [\"nodes.refine.attention\"]");
    out.emplace_back(e.as_string()->get(), loc.at(e));
  }
  t.erase("unset");
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string chain_key(const std::string& file) {
  std::error_code ec;
  const fs::path p = fs::weakly_canonical(fs::path(file), ec);
  return ec ? fs::path(file).lexically_normal().string() : p.string();
}

// `file` with its base chain merged in, `unset` applied; [datasets] kept.
toml::table load_chain(const std::string& text, const std::string& file, LocationTracker& loc,
                       std::vector<std::string>& chain, std::vector<std::string>& files) {
  chain.push_back(chain_key(file));
  files.push_back(file);
  toml::table doc = parse_text(text, file);
  toml::table result;
  if (toml::node* b = doc.get("base")) {
    if (!b->is_string())
      throw Error(loc.at(*b), "", "base must be a string (a pipeline file)", "write base = \"other.toml\"");
    const std::string written = b->as_string()->get();
    if (fs::path(written).has_parent_path())
      // Relative paths inside the base resolve from the pipeline's folder
      // (StageInit::pipeline_dir), so a base elsewhere would read wrong files.
      throw Error(loc.at(*b), "", "base '" + written + "' is not in this file's folder",
                  "put the base file next to the pipelines built on it (relative paths in it resolve from there)");
    const std::string base_path = (fs::path(file).parent_path() / written).string();
    if (!fs::is_regular_file(base_path))
      throw Error(loc.at(*b), "", "base file " + base_path + " not found", "paths are relative to this file");
    if (std::find(chain.begin(), chain.end(), chain_key(base_path)) != chain.end()) {
      std::string cycle;
      for (const auto& f : files) cycle += fs::path(f).filename().string() + " -> ";
      throw Error(loc.at(*b), "", "base chain has a cycle: " + cycle + written, "remove one of the base keys");
    }
    result = load_chain(read_text(base_path), base_path, loc, chain, files);
    doc.erase("base");
  }
  const int rank = static_cast<int>(loc.file_rank.size());  // deeper bases were ranked first
  loc.file_rank[file] = rank;
  // The file's unset list edits what it inherits, before its own keys land.
  for (const auto& [key, where] : take_unset_list(doc, loc, "")) delete_path(result, split_dotted(key), where, key);
  merge_into(result, std::move(doc));
  chain.pop_back();
  return result;
}

std::string serialise(const toml::table& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}

}  // namespace

void apply_override(toml::table& root, const Override& ov, LocationTracker& loc);  // pipeline_spec.cpp

PipelineDocument resolve_pipeline_document(const std::string& text, const std::string& file,
                                           const std::vector<Override>& overrides, const std::string& dataset,
                                           LocationTracker& loc) {
  PipelineDocument doc;
  std::vector<std::string> chain;
  doc.root = load_chain(text, file, loc, chain, doc.files);

  toml::table* wanted_table = nullptr;
  const std::string wanted = dataset.empty() ? "" : harness::canonical_dataset_name(dataset);
  if (toml::node* d = doc.root.get("datasets")) {
    toml::table* tables = d->as_table();
    if (tables == nullptr)
      throw Error(loc.at(*d), "", "datasets must be a table of per-dataset tables",
                  "write [datasets.voc21.protocol] prob_thd = 0.1");
    for (auto&& [key, value] : *tables) {
      const std::string k(key.str());
      std::string canonical;
      try {
        canonical = harness::canonical_dataset_name(k);
      } catch (const std::invalid_argument& e) {
        throw Error(loc.at(value), "", std::string("[datasets.") + k + "]: " + e.what(),
                    "name a data set as `ovseg eval --dataset` does");
      }
      if (std::find(doc.dataset_tables.begin(), doc.dataset_tables.end(), canonical) != doc.dataset_tables.end())
        throw Error(loc.at(value), "", "[datasets." + k + "] repeats the settings of data set '" + canonical + "'",
                    "merge the two tables (aliases name the same data set)");
      toml::table* t = value.as_table();
      if (t == nullptr)
        throw Error(loc.at(value), "", "datasets." + k + " must be a table", "write [datasets." + k + ".protocol]");
      for (const auto& [sub, v] : *t)
        if (std::find(kDatasetTableKeys.begin(), kDatasetTableKeys.end(), std::string(sub.str())) ==
            kDatasetTableKeys.end())
          throw Error(loc.at(v), "",
                      "unknown key '" + std::string(sub.str()) + "' in [datasets." + k + "]" +
                          did_you_mean(std::string(sub.str()), kDatasetTableKeys),
                      "a data set's settings are protocol, nodes, outputs and vocabulary tables, and unset");
      doc.dataset_tables.push_back(canonical);
      if (canonical == wanted) wanted_table = t;
    }
  }
  // The row identity keeps every data set's table: taken before one is applied.
  doc.family_toml = serialise(doc.root);
  toml::table overlay;
  if (wanted_table != nullptr) overlay = std::move(*wanted_table);
  for (const auto& ov : overrides)
    doc.family_edits.push_back(std::string(ov.unset ? "--unset " : "--set ") + ov.original);
  doc.root.erase("datasets");
  doc.dataset = wanted;
  if (wanted_table != nullptr) {
    const auto unsets = take_unset_list(overlay, loc, "[datasets." + wanted + "] ");
    for (const auto& [key, where] : unsets) delete_path(doc.root, split_dotted(key), where, key);
    merge_into(doc.root, std::move(overlay));
  }
  // The command line last: deletions first, so a key can be replaced cleanly.
  for (const auto& ov : overrides)
    if (ov.unset) delete_path(doc.root, ov.path, {"--unset " + ov.original, 0, 0}, ov.original);
  for (const auto& ov : overrides)
    if (!ov.unset) apply_override(doc.root, ov, loc);
  return doc;
}

}  // namespace ovseg::detail
