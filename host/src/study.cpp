#include "ovseg/host/study.hpp"

#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "ovseg/host/report.hpp"
#include "ovseg/host/results_store.hpp"

namespace fs = std::filesystem;

namespace ovseg {

StudyFolder::StudyFolder(std::string dir) : dir_(std::move(dir)) {
  std::error_code ec;
  fs::create_directories(records_dir(), ec);
  if (ec || !fs::is_directory(records_dir()))
    throw std::runtime_error("--work-dir " + dir_ + ": cannot create " + records_dir() +
                             (ec ? " (" + ec.message() + ")" : std::string()));
}

std::string StudyFolder::records_dir() const { return (fs::path(dir_) / "records").string(); }

void StudyFolder::add_record(const nlohmann::json& record, const std::string& file_name) const {
  nlohmann::json copy = record;
  copy.erase("_file");  // where load_records found it, not part of the record
  write_json_atomic((fs::path(records_dir()) / file_name).string(), copy);
}

std::vector<nlohmann::json> StudyFolder::records() const { return load_records(records_dir()); }

void StudyFolder::log_command(const std::string& command_line) const {
  const std::string file = (fs::path(dir_) / "commands.txt").string();
  std::ofstream out(file, std::ios::app);
  if (!(out << utc_now_iso8601() << "  " << command_line << "\n")) throw std::runtime_error("cannot write " + file);
}

std::vector<std::string> write_table_formats(const ComparisonTable& table, const std::string& stem) {
  std::vector<std::string> written;
  for (const auto& [ext, format] : {std::pair{".md", TableFormat::Markdown}, std::pair{".tex", TableFormat::Latex},
                                    std::pair{".html", TableFormat::Html}}) {
    const std::string file = stem + ext;
    if (fs::path(file).has_parent_path()) fs::create_directories(fs::path(file).parent_path());
    std::ofstream out(file);
    if (!(out << render_table(table, format))) throw std::runtime_error("cannot write " + file);
    written.push_back(file);
  }
  return written;
}

namespace {

// The paths a pattern matches (sorted, as glob(3) returns them); the pattern
// itself when it has no wildcard.
std::vector<std::string> expand(const std::string& pattern) {
  if (pattern.find_first_of("*?[") == std::string::npos) return {pattern};
  glob_t g{};
  std::vector<std::string> out;
  if (::glob(pattern.c_str(), 0, nullptr, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) out.push_back(g.gl_pathv[i]);
  ::globfree(&g);
  return out;
}

}  // namespace

std::vector<nlohmann::json> load_records_from(const std::vector<std::string>& sources) {
  std::vector<nlohmann::json> out;
  for (const auto& source : sources) {
    const std::vector<std::string> paths = expand(source);
    if (paths.empty()) throw std::runtime_error("--results " + source + ": matches no folder or record file");
    for (const auto& p : paths) {
      if (fs::is_directory(p)) {
        auto more = load_records(p);
        out.insert(out.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
      } else if (fs::is_regular_file(p)) {
        if (p.size() > 13 && p.compare(p.size() - 13, 13, ".partial.json") == 0) continue;  // a checkpoint
        if (auto r = load_record_file(p)) out.push_back(std::move(*r));
      } else {
        throw std::runtime_error("results folder " + p + " does not exist");
      }
    }
  }
  // A record reached through two arguments (a folder and a glob into it) counts once.
  std::vector<nlohmann::json> unique;
  std::vector<std::string> seen;
  for (auto& r : out) {
    const std::string file = fs::weakly_canonical(r.value("_file", std::string())).string();
    if (std::find(seen.begin(), seen.end(), file) != seen.end()) continue;
    seen.push_back(file);
    unique.push_back(std::move(r));
  }
  return unique;
}

}  // namespace ovseg
