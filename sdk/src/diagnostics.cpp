#include "ovseg/sdk/diagnostics.hpp"

#include <algorithm>

namespace ovseg {

std::string SourceLocation::str() const {
  std::string s = file;
  if (line > 0) s += ":" + std::to_string(line);
  if (line > 0 && column > 0) s += ":" + std::to_string(column);
  return s;
}

namespace {
std::string compose(const SourceLocation& where, const std::string& node, const std::string& problem,
                    const std::string& fix) {
  std::string msg;
  std::string loc = where.str();
  if (!loc.empty()) msg += loc + ": ";
  msg += "error: ";
  if (!node.empty()) msg += "node '" + node + "': ";
  msg += problem;
  if (!fix.empty()) msg += " -- fix: " + fix;
  return msg;
}
}  // namespace

Error::Error(SourceLocation where, std::string node, std::string problem, std::string fix)
    : std::runtime_error(compose(where, node, problem, fix)),
      where_(std::move(where)),
      node_(std::move(node)),
      problem_(std::move(problem)),
      fix_(std::move(fix)) {}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::vector<std::string> nearest_names(const std::string& name, const std::vector<std::string>& candidates,
                                       size_t max_results) {
  // Close enough to be a typo: at most a third of the longer name differs,
  // or one is a prefix of the other ("pam" -> "pamr").
  std::vector<std::pair<size_t, std::string>> scored;
  for (const auto& c : candidates) {
    size_t d = edit_distance(name, c);
    size_t limit = std::max<size_t>(2, std::max(name.size(), c.size()) / 3);
    bool prefix = !name.empty() && (c.rfind(name, 0) == 0 || name.rfind(c, 0) == 0);
    if (d <= limit || prefix) scored.emplace_back(d, c);
  }
  std::stable_sort(scored.begin(), scored.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<std::string> out;
  for (size_t i = 0; i < scored.size() && i < max_results; ++i) out.push_back(scored[i].second);
  return out;
}

std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates) {
  auto near = nearest_names(name, candidates, 1);
  return near.empty() ? "" : " (did you mean '" + near.front() + "'?)";
}

}  // namespace ovseg
