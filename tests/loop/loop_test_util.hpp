// Helpers for the researcher's-loop tests: a tiny generated world shared by
// the cases of one binary, and small file helpers.
#pragma once

#include <string>
#include <vector>

#include "eval_test_util.hpp"
#include "ovseg/world/world.hpp"

namespace loop_test {

using namespace eval_test;

// Four 64 px world v2 scenes (val), generated once per test binary.
inline const std::string& tiny_world() {
  static TempDir dir;
  static const std::string root = [] {
    ovseg::world::SceneOptions o;
    o.width = o.height = 64;
    ovseg::world::write_world_split(dir.path().string(), "val", 4, 9, o);
    return dir.path().string();
  }();
  return root;
}

// Record files (not checkpoints) in `dir`.
inline size_t record_count(const std::string& dir) {
  size_t n = 0;
  for (const auto& f : json_files(dir))
    if (f.size() > 5 && f.substr(f.size() - 5) == ".json" && f.find(".partial.") == std::string::npos) ++n;
  return n;
}

inline std::string quoted(const std::string& s) { return "'" + s + "'"; }

}  // namespace loop_test
