// Internal: English phrasing shared by every world version's captions.
// Frozen like rng.hpp: world v1's captions depend on it.
#pragma once

#include <string>
#include <vector>

namespace ovseg::world {

// "a box", "an orange box", "two boxes", ..., "many boxes" (`words` already
// in the right number).
inline std::string counted(int count, const std::string& words) {
  static const char* const kCountWords[] = {"", "a", "two", "three", "four", "five", "six", "seven", "eight", "nine"};
  std::string n = count < 10 ? kCountWords[count] : "many";
  if (count == 1 && !words.empty() && std::string("aeiou").find(words[0]) != std::string::npos) n = "an";
  return n + " " + words;
}

// "a", "a and b", "a, b and c".
inline std::string join_list(const std::vector<std::string>& parts) {
  std::string s;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) s += (i + 1 == parts.size()) ? " and " : ", ";
    s += parts[i];
  }
  return s;
}

}  // namespace ovseg::world
