#include "ovseg/host/results_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "ovseg/sdk/atomic_file.hpp"
#include "ovseg/sdk/diagnostics.hpp"

namespace ovseg {

namespace fs = std::filesystem;

namespace {

// File-name-safe: letters, digits, '-', '_' and '.'; anything else -> '-'.
std::string safe(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '-';
  return out.empty() ? "unnamed" : out;
}

}  // namespace

std::string RunKey::stem() const {
  std::string s = safe(pipeline_name) + "__" + safe(dataset) + "__" + safe(split) + "__" +
                  pipeline_sha256.substr(0, 12);
  if (limit >= 0) s += "__limit" + std::to_string(limit);
  if (shard_count > 1) s += "__shard" + std::to_string(shard_index) + "of" + std::to_string(shard_count);
  if (precision != "fp32") s += "__" + safe(precision);  // fp32 keeps the names records had before --precision
  return s;
}

std::string record_path(const std::string& results_dir, const RunKey& key) {
  return (fs::path(results_dir) / (key.stem() + ".json")).string();
}

void create_output_folder(const std::string& dir, const std::string& what) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!ec && ::access(dir.c_str(), W_OK) != 0) ec = std::error_code(errno, std::generic_category());
  if (ec)
    throw Error({dir, 0, 0}, "", "cannot write " + what + " here: " + ec.message(), "choose a folder you can write to");
}

std::string partial_path(const std::string& results_dir, const RunKey& key) {
  return (fs::path(results_dir) / (key.stem() + ".partial.json")).string();
}

void write_json_atomic(const std::string& path, const nlohmann::json& j) {
  const fs::path target(path);
  if (target.has_parent_path()) create_output_folder(target.parent_path().string(), "results");
  // Durable: a record must survive a crash or power cut whole or not at all.
  write_text_atomically(path, j.dump(1) + "\n", {/*durable=*/true});
}

std::optional<nlohmann::json> read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  if (text.empty()) throw std::runtime_error(path + ": empty file, not valid JSON");
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // The library's message quotes what it read (a whole record): say where
    // it broke instead.
    throw std::runtime_error(
        path + ": not a valid JSON file (" +
        (e.byte >= text.size() ? "truncated after " + std::to_string(text.size()) + " bytes"
                               : "corrupt at byte " + std::to_string(e.byte) + " of " + std::to_string(text.size())) +
        ")");
  }
}

std::string record_schema_problem(const nlohmann::json& record) {
  using nlohmann::json;
  // The fields `ovseg table` and `ovseg merge` read, as "a.b.c" paths.
  static const std::vector<std::pair<std::string, json::value_t>> kFields = {
      {"pipeline.name", json::value_t::string}, {"pipeline.sha256", json::value_t::string},
      {"dataset.name", json::value_t::string},  {"selection.shard.count", json::value_t::number_unsigned},
      {"protocol", json::value_t::object},      {"metrics", json::value_t::object}};
  for (const auto& [path, type] : kFields) {
    const json* v = &record;
    std::stringstream parts(path);
    for (std::string part; v && std::getline(parts, part, '.');)
      v = v->is_object() && v->contains(part) ? &(*v)[part] : nullptr;
    if (v == nullptr) return "field '" + path + "' is missing";
    const bool number_ok = type == json::value_t::number_unsigned && v->is_number_integer();
    if (v->type() != type && !number_ok)
      return "field '" + path + "' is " + v->type_name() + ", expected " + json(type).type_name();
  }
  if (record.contains("date") && !record["date"].is_string()) return "field 'date' is not a string";
  if (!record.contains("selection") || !record["selection"].contains("limit"))
    return "field 'selection.limit' is missing";
  return "";
}

std::optional<nlohmann::json> load_record_file(const std::string& f) {
  // One unreadable record must not hide the others: it is named and skipped.
  std::optional<nlohmann::json> j;
  try {
    j = read_json_file(f);
  } catch (const std::exception& e) {
    std::cerr << "warning: skipping " << e.what() << "\n";
    return std::nullopt;
  }
  if (!j || !j->is_object()) return std::nullopt;
  const auto kind = j->find("kind");  // other JSON files (run.json, sweeps) are not records
  if (kind != j->end() && !kind->is_string()) {
    std::cerr << "warning: skipping " << f << ": not an eval record as ovseg writes it: field 'kind' is "
              << kind->type_name() << ", expected string\n";
    return std::nullopt;
  }
  if (kind == j->end() || *kind != kRecordKind) return std::nullopt;
  if (const std::string problem = record_schema_problem(*j); !problem.empty()) {
    std::cerr << "warning: skipping " << f << ": not an eval record as ovseg writes it: " << problem << "\n";
    return std::nullopt;
  }
  (*j)["_file"] = f;
  return j;
}

std::vector<nlohmann::json> load_records(const std::string& dir) {
  std::vector<nlohmann::json> out;
  if (!fs::is_directory(dir)) throw std::runtime_error("results folder " + dir + " does not exist");
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || e.path().extension() != ".json") continue;
    if (name.size() > 13 && name.substr(name.size() - 13) == ".partial.json") continue;
    files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files)
    if (auto j = load_record_file(f)) out.push_back(std::move(*j));
  return out;
}

std::string utc_now_iso8601() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace ovseg
