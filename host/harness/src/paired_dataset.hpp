// Internal: a data set of (image file, label PNG) pairs found by a layout.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ovseg/harness/dataset.hpp"

namespace ovseg::harness::detail {

struct PairedLayout {
  std::string image_dir;                        // relative to root
  std::string label_dir;                        // relative to root
  std::string image_suffix;                     // appended to the id, e.g. ".jpg", "_leftImg8bit.png"
  std::string label_suffix;                     // e.g. ".png", "_gtFine_labelIds.png"
  std::vector<std::string> list_files;          // candidate id lists, relative to root; may be empty
  bool recursive = false;                       // ids are relative paths below label_dir
  std::vector<std::string> alt_image_suffixes;  // also tried, e.g. ".png"
  std::string instance_dir = "";                // optional: ID.png instance ids (8- or 16-bit) -> Sample::instances
};

// In-place transform from stored values to class indices (CV_32SC1).
using LabelTransform = std::function<void(cv::Mat&)>;

struct PairedSpec {
  std::string name;
  std::string class_key;  // builtin_class_names key
  int num_classes = 0;    // checked against the class-name list
  std::vector<PairedLayout> layouts;
  LabelTransform transform;     // may be empty
  std::string class_file = "";  // instead of class_key: a list under the root; 0 classes = any count
};

std::unique_ptr<Dataset> make_paired_dataset(const PairedSpec& spec, const std::string& root, const std::string& split);

// Common transforms.
void reduce_zero_label(cv::Mat& label);                                     // 0 -> 255, c -> c-1, 255 stays 255
void apply_lut(cv::Mat& label, const std::vector<int>& lut, int fallback);  // v -> lut[v]

ClassNames checked_builtin_names(const std::string& key, int expected);

std::unique_ptr<Dataset> make_voc21(const std::string& root, const std::string& split);
std::unique_ptr<Dataset> make_voc20(const std::string& root, const std::string& split);
std::unique_ptr<Dataset> make_context59(const std::string& root, const std::string& split);
std::unique_ptr<Dataset> make_context60(const std::string& root, const std::string& split);
std::unique_ptr<Dataset> make_coco_stuff171(const std::string& root, const std::string& split);
std::unique_ptr<Dataset> make_ade20k(const std::string& root, const std::string& split);
std::unique_ptr<Dataset> make_cityscapes(const std::string& root, const std::string& split);
std::unique_ptr<Dataset> make_lip(const std::string& root, const std::string& split);
std::unique_ptr<Dataset> make_cihp(const std::string& root, const std::string& split);
std::unique_ptr<Dataset> make_pascal_person_part(const std::string& root, const std::string& split);
std::unique_ptr<Dataset> make_coco_object(const std::string& root, const std::string& split);
std::unique_ptr<Dataset> make_folder(const std::string& root, const std::string& split);

// Shared helpers.
cv::Mat load_image_checked(const std::string& image_path, const cv::Mat& label, const std::string& label_path);
void validate_label(const cv::Mat& label, int num_classes, int ignore_index, const std::string& label_path,
                    const std::string& dataset);

}  // namespace ovseg::harness::detail
