// Class-name lists in the format SCLIP, NACLIP and ClearCLIP ship: one class
// per line, synonyms separated by commas ("person, man, woman"); the first
// synonym names the class.
#pragma once

#include <string>
#include <vector>

namespace ovseg {

// The one parser of comma-separated name lists (class-name files, inline
// class_names, --unseen): "person, man , woman" -> {"person", "man",
// "woman"}, trimmed; a blank line -> {}; an empty name between commas
// ("a,,b", "a,") throws std::invalid_argument, as a typo is likelier than
// an intended nameless synonym.
std::vector<std::string> split_synonyms(const std::string& line);

// One entry per non-blank line; throws ovseg::Error naming the file (and
// line) if it cannot be read or a line has an empty name.
std::vector<std::vector<std::string>> read_class_name_file(const std::string& path);

}  // namespace ovseg
