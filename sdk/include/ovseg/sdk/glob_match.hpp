// Shell-style name patterns, as pipelines write them for tensors
// (`trainable = ["visual.transformer.resblocks.*.attn.q_proj_weight"]`,
// `[[train.param_groups]] match`, SCHNet's `sam_trainable`).
#pragma once

#include <string>

namespace ovseg {

// '*' matches any run of characters (dots included), '?' one character.
// Iterative, backtracking to the last '*', so no pattern is exponential.
inline bool glob_match(const std::string& pattern, const std::string& name) {
  size_t p = 0, n = 0, star = std::string::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p, ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace ovseg
