// Errors a user can act on: where (file:line:column), which node, what is
// wrong and a one-line fix. Every load-time check throws ovseg::Error.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace ovseg {

struct SourceLocation {
  std::string file;
  int line = 0;             // 1-based; 0 = unknown
  int column = 0;           // 1-based; 0 = unknown
  std::string str() const;  // "file:line:column" (parts that are known)
};

class Error : public std::runtime_error {
 public:
  Error(SourceLocation where, std::string node, std::string problem, std::string fix = "");
  explicit Error(std::string problem) : Error({}, "", std::move(problem)) {}

  const SourceLocation& where() const { return where_; }
  const std::string& node() const { return node_; }
  const std::string& problem() const { return problem_; }
  const std::string& fix() const { return fix_; }

 private:
  SourceLocation where_;
  std::string node_, problem_, fix_;
};

// Levenshtein distance, for "did you mean" suggestions.
size_t edit_distance(const std::string& a, const std::string& b);

// Candidates close to `name` (at most `max_results`, nearest first).
std::vector<std::string> nearest_names(const std::string& name, const std::vector<std::string>& candidates,
                                       size_t max_results = 3);

// " (did you mean 'x'?)" or "" when nothing is close.
std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates);

}  // namespace ovseg
