#include <functional>
#include <map>
#include <stdexcept>

#include "paired_dataset.hpp"

namespace ovseg::harness {

namespace {
struct Entry {
  int num_classes;
  std::function<std::unique_ptr<Dataset>(const std::string&, const std::string&)> make;
};

const std::map<std::string, Entry>& registry() {
  static const std::map<std::string, Entry> r = {
      {"voc21", {21, detail::make_voc21}},
      {"voc20", {20, detail::make_voc20}},
      {"context59", {59, detail::make_context59}},
      {"context60", {60, detail::make_context60}},
      {"coco_stuff171", {171, detail::make_coco_stuff171}},
      {"coco_object", {81, detail::make_coco_object}},
      {"ade20k", {150, detail::make_ade20k}},
      {"cityscapes", {19, detail::make_cityscapes}},
      {"lip", {20, detail::make_lip}},
      {"cihp", {20, detail::make_cihp}},
      {"pascal_person_part", {7, detail::make_pascal_person_part}},
      {"folder", {0, detail::make_folder}},  // class count from ROOT/class_names.txt
  };
  return r;
}

const std::map<std::string, std::string>& aliases() {
  static const std::map<std::string, std::string> a = {
      {"voc", "voc21"},
      {"pc59", "context59"},
      {"pc60", "context60"},
      {"coco_stuff", "coco_stuff171"},
      {"coco_stuff164k", "coco_stuff171"},
      {"ade", "ade20k"},
      {"ade150", "ade20k"},
      {"city", "cityscapes"},
      {"city_scapes", "cityscapes"},
      {"object", "coco_object"},
      {"coco_objects", "coco_object"},
      {"ppp", "pascal_person_part"},
      {"person_part", "pascal_person_part"},
      {"world", "folder"},
  };
  return a;
}
}  // namespace

std::string canonical_dataset_name(const std::string& name) {
  if (registry().count(name)) return name;
  const auto it = aliases().find(name);
  if (it != aliases().end()) return it->second;
  std::string known;
  for (const auto& kv : registry()) known += (known.empty() ? "" : ", ") + kv.first;
  throw std::invalid_argument("unknown dataset '" + name + "' (known: " + known + ")");
}

std::vector<std::string> Dataset::display_class_names() const {
  std::vector<std::string> names = display_names(class_names());
  if ((name() == "voc21" || name() == "coco_object") && !names.empty()) names[0] = "background";
  return names;
}

std::vector<std::string> dataset_names() {
  std::vector<std::string> n;
  for (const auto& kv : registry()) n.push_back(kv.first);
  return n;
}

int dataset_num_classes(const std::string& name) { return registry().at(canonical_dataset_name(name)).num_classes; }

std::unique_ptr<Dataset> make_dataset(const std::string& name, const std::string& data_root, const std::string& split) {
  return registry().at(canonical_dataset_name(name)).make(data_root, split);
}

}  // namespace ovseg::harness
