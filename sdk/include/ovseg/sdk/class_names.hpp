// Class-name lists in the format SCLIP, NACLIP and ClearCLIP ship: one class
// per line, synonyms separated by commas ("person, man, woman"); the first
// synonym names the class.
#pragma once

#include <string>
#include <vector>

namespace ovseg {

// "person, man , woman" -> {"person", "man", "woman"} (trimmed, empties dropped)
std::vector<std::string> split_synonyms(const std::string& line);

// One entry per non-blank line; throws ovseg::Error naming the file if it
// cannot be read or a line has no name.
std::vector<std::vector<std::string>> read_class_name_file(const std::string& path);

}  // namespace ovseg
