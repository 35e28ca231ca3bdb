// ovseg's own layout for any data set with PNG labels and a class-name file;
// the procedural world (`ovseg world`) is written in it.
#include "paired_dataset.hpp"

namespace ovseg::harness::detail {

std::unique_ptr<Dataset> make_folder(const std::string& root, const std::string& split) {
  PairedLayout l;
  l.image_dir = split + "/images";
  l.label_dir = split + "/labels";
  l.image_suffix = ".png";
  l.alt_image_suffixes = {".jpg"};
  l.label_suffix = ".png";
  l.list_files = {split + "/" + split + ".txt"};
  l.instance_dir = split + "/instances";
  PairedSpec s{"folder", "", 0, {l}, {}};
  s.class_file = "class_names.txt";
  return make_paired_dataset(s, root, split);
}

}  // namespace ovseg::harness::detail
