// PASCAL VOC 2012 (21 / 20 classes) and PASCAL Context (60 / 59 classes).
#include "paired_dataset.hpp"

namespace ovseg::harness::detail {

namespace {
std::vector<PairedLayout> voc_layouts(const std::string& split, const std::string& label_dir,
                                      const std::string& list_dir, const std::string& devkit) {
  std::vector<PairedLayout> out;
  for (const std::string& prefix : {std::string(), devkit + "/", "VOCdevkit/" + devkit + "/"}) {
    PairedLayout l;
    l.image_dir = prefix + "JPEGImages";
    l.label_dir = prefix + label_dir;
    l.image_suffix = ".jpg";
    l.label_suffix = ".png";
    l.list_files = {prefix + list_dir + "/" + split + ".txt", prefix + split + ".txt"};
    out.push_back(l);
  }
  return out;
}

void drop_background(cv::Mat& label) {  // VOC20: 0 -> 255, c -> c-1
  reduce_zero_label(label);
}
}  // namespace

std::unique_ptr<Dataset> make_voc21(const std::string& root, const std::string& split) {
  PairedSpec s{"voc21", "voc21", 21, voc_layouts(split, "SegmentationClass", "ImageSets/Segmentation", "VOC2012"), {}};
  return make_paired_dataset(s, root, split);
}

std::unique_ptr<Dataset> make_voc20(const std::string& root, const std::string& split) {
  PairedSpec s{"voc20", "voc20", 20, voc_layouts(split, "SegmentationClass", "ImageSets/Segmentation", "VOC2012"),
               drop_background};
  return make_paired_dataset(s, root, split);
}

std::unique_ptr<Dataset> make_context60(const std::string& root, const std::string& split) {
  PairedSpec s{"context60",
               "context60",
               60,
               voc_layouts(split, "SegmentationClassContext", "ImageSets/SegmentationContext", "VOC2010"),
               {}};
  return make_paired_dataset(s, root, split);
}

std::unique_ptr<Dataset> make_context59(const std::string& root, const std::string& split) {
  PairedSpec s{"context59", "context59", 59,
               voc_layouts(split, "SegmentationClassContext", "ImageSets/SegmentationContext", "VOC2010"),
               reduce_zero_label};
  return make_paired_dataset(s, root, split);
}

}  // namespace ovseg::harness::detail
