#include "ovseg/sdk/class_names.hpp"
#include "ovseg/sdk/left_right_pairs.hpp"

#include <cctype>
#include <fstream>
#include <stdexcept>

#include "ovseg/sdk/diagnostics.hpp"

namespace ovseg {

namespace {
std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}
}  // namespace

std::vector<std::string> split_synonyms(const std::string& line) {
  std::vector<std::string> out;
  if (trim(line).empty()) return out;
  size_t start = 0;
  while (start <= line.size()) {
    size_t comma = line.find(',', start);
    std::string part = trim(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (part.empty()) throw std::invalid_argument("empty name between commas in '" + trim(line) + "'");
    out.push_back(part);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::vector<std::vector<std::string>> read_class_name_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error({path, 0, 0}, "", "cannot open class-name file", "check the path (names_file)");
  std::vector<std::vector<std::string>> classes;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (trim(line).empty()) continue;
    try {
      classes.push_back(split_synonyms(line));
    } catch (const std::invalid_argument& e) {
      throw Error({path, n, 1}, "", e.what(), "write one class per line, synonyms after commas");
    }
  }
  if (classes.empty()) throw Error({path, 0, 0}, "", "class-name file is empty", "add one class per line");
  return classes;
}

std::vector<std::pair<int, int>> left_right_pairs(const std::vector<std::string>& names) {
  const auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  std::vector<std::pair<int, int>> pairs;
  for (size_t a = 0; a < names.size(); ++a) {
    const std::string la = lower(names[a]);
    if (la.rfind("left ", 0) != 0) continue;
    for (size_t b = 0; b < names.size(); ++b)
      if (lower(names[b]) == "right " + la.substr(5)) pairs.push_back({static_cast<int>(a), static_cast<int>(b)});
  }
  return pairs;
}

}  // namespace ovseg
