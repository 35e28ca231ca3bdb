#include "ovseg/host/benchmark_names.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <utility>

#include "ovseg/harness/dataset.hpp"

namespace ovseg {

namespace {

// In column order.
const std::vector<std::pair<std::string, std::string>>& short_names() {
  static const std::vector<std::pair<std::string, std::string>> n = {
      {"voc21", "VOC21"},    {"context60", "PC60"},         {"coco_object", "Object"}, {"voc20", "VOC20"},
      {"context59", "PC59"}, {"coco_stuff171", "Stuff"},    {"cityscapes", "City"},    {"ade20k", "ADE"},
      {"ade847", "A-847"},   {"context459", "PC-459"},      {"voc20b", "VOC20b"},      {"lip", "LIP"},
      {"cihp", "CIHP"},      {"pascal_person_part", "PPP"}, {"folder", "world"},
  };
  return n;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

const std::vector<std::string>& extra_benchmarks() {
  static const std::vector<std::string> e = {"ade847", "context459", "voc20b"};
  return e;
}

std::string dataset_short_name(const std::string& dataset) {
  // "voc21#1a2b3c4d": records of one data set under another vocabulary
  // (table_records.cpp keeps them in a column of their own).
  if (const auto hash = dataset.find('#'); hash != std::string::npos)
    return dataset_short_name(dataset.substr(0, hash)) + " [vocabulary " + dataset.substr(hash + 1) + "]";
  for (const auto& [name, label] : short_names())
    if (name == dataset) return label;
  return dataset;
}

std::string dataset_from_column_name(const std::string& name) {
  for (const auto& [canonical, label] : short_names())
    if (lower(label) == lower(name) || canonical == name) return canonical;
  // Names the papers use besides the short ones.
  const std::string l = lower(name);
  if (l == "a-150" || l == "a150") return "ade20k";
  if (l == "pc-59") return "context59";
  if (l == "pc-60") return "context60";
  if (l == "pas-20" || l == "voc-20") return "voc20";
  if (l == "pas-20b") return "voc20b";
  if (l == "a847") return "ade847";
  if (l == "pc459") return "context459";
  try {
    return harness::canonical_dataset_name(l);
  } catch (const std::invalid_argument&) {
  }
  std::string known;
  for (const auto& [canonical, label] : short_names()) known += (known.empty() ? "" : ", ") + label;
  throw std::invalid_argument("unknown data set column '" + name + "' (known: " + known +
                              ", or a harness data set name)");
}

int dataset_column_rank(const std::string& dataset) {
  const auto& n = short_names();
  for (size_t i = 0; i < n.size(); ++i)
    if (n[i].first == dataset) return static_cast<int>(i);
  return static_cast<int>(n.size());
}

}  // namespace ovseg
