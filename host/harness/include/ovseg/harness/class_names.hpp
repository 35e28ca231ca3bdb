// Class-name lists in SCLIP's format: one class per line, synonyms separated
// by commas (VOC21's and COCO-Object's first line is a background word list).
#pragma once

#include <string>
#include <vector>

namespace ovseg::harness {

// names[c] = synonyms of class c (at least one, trimmed, non-empty).
using ClassNames = std::vector<std::vector<std::string>>;

// Parses the text of a class-name file; blank lines (e.g. a trailing newline)
// are skipped. `source` names the file in error messages. Throws
// std::runtime_error on an empty synonym (e.g. "a,,b").
ClassNames parse_class_names(const std::string& text, const std::string& source);
// Reads and parses a file; throws std::runtime_error naming it if unreadable.
ClassNames load_class_names(const std::string& path);
// The lists compiled into the library, by key: "voc21", "voc20",
// "context59", "context60", "coco_object", "coco_stuff", "ade20k",
// "cityscapes", "lip", "cihp", "pascal_person_part". Throws
// std::out_of_range for an unknown key.
ClassNames builtin_class_names(const std::string& key);
std::vector<std::string> builtin_class_name_keys();
// The raw text of a built-in list (exactly the shipped file).
const std::string& builtin_class_names_text(const std::string& key);
// First synonym of each class.
std::vector<std::string> display_names(const ClassNames& names);
// Throws std::runtime_error("<source>: N classes, expected M") on a mismatch.
void check_class_count(const ClassNames& names, std::size_t expected, const std::string& source);

}  // namespace ovseg::harness
