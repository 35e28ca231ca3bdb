// Benchmark data sets in their official (or mmsegmentation's) on-disk
// layouts, each with its class names and label conventions. Every adapter
// returns label maps as CV_32SC1 holding class indices in [0, num_classes())
// or ignore_index() (255).
//
// Layouts (ROOT = --data-root; the first layout whose label folder exists is
// used; "flat" layouts are what the sample folders in ../shared/data use):
//   voc21, voc20   ROOT[/VOCdevkit/VOC2012]/JPEGImages/ID.jpg,
//                  SegmentationClass/ID.png (palette PNG, index read, 255 void),
//                  list ImageSets/Segmentation/SPLIT.txt or ROOT/SPLIT.txt.
//                  voc20 drops background: 0 -> 255, c -> c-1.
//   context60, context59
//                  ROOT[/VOCdevkit/VOC2010]/JPEGImages/ID.jpg,
//                  SegmentationClassContext/ID.png (mmseg's converted labels,
//                  0 = background), list ImageSets/SegmentationContext/SPLIT.txt
//                  or ROOT/SPLIT.txt; context59 reduces the zero label
//                  (0 -> 255, c -> c-1).
//   coco_stuff171  ROOT/images/SPLIT2017/ID.jpg,
//                  ROOT/annotations/SPLIT2017/ID_labelTrainIds.png (mmseg's
//                  coco_stuff164k conversion: 0..170, 255 = unlabeled);
//                  flat: ROOT/images, ROOT/annotations.
//   coco_object    the official COCO instance JSON:
//                  ROOT/annotations/instances_SPLIT2017.json + ROOT/SPLIT2017/
//                  (or ROOT/images/SPLIT2017/); flat: ROOT/instances_SPLIT2017*.json
//                  (exactly one) + ROOT/images/. See coco_object.hpp.
//   ade20k         ROOT[/ADEChallengeData2016]/images/validation/ID.jpg,
//                  annotations/validation/ID.png, reduce zero label;
//                  flat: ROOT/images, ROOT/annotations.
//   cityscapes     ROOT/leftImg8bit/SPLIT/CITY/ID_leftImg8bit.png,
//                  ROOT/gtFine/SPLIT/CITY/ID_gtFine_labelIds.png, labelIds
//                  mapped to the 19 trainIds (others 255).
//   lip            ROOT[/TrainVal_images]/val_images/ID.jpg,
//                  ROOT[/TrainVal_parsing_annotations]/val_segmentations/ID.png,
//                  optional list ROOT/val_id.txt; flat: ROOT/images, ROOT/labels.
//   cihp           ROOT[/instance-level_human_parsing]/Validation/Images/ID.jpg,
//                  Validation/Category_ids/ID.png, optional list
//                  Validation/val_id.txt; flat: ROOT/images, ROOT/labels.
//   pascal_person_part
//                  ROOT/JPEGImages/ID.jpg, ROOT/SegmentationPart/ID.png,
//                  optional list ROOT/list/SPLIT_id.txt or ROOT/SPLIT_id.txt;
//                  flat: ROOT/images, ROOT/labels.
//   folder         any data in ovseg's own layout (`ovseg world` writes it):
//                  ROOT/class_names.txt (class-name file, label = line index),
//                  ROOT/SPLIT/images/ID.png (or .jpg), ROOT/SPLIT/labels/ID.png
//                  (8-bit class indices, 255 ignore), optional ROOT/SPLIT/SPLIT.txt,
//                  optional ROOT/SPLIT/instances/ID.png (8- or 16-bit object
//                  instance ids, 0 = none; Sample::instances). `ovseg world`
//                  also writes ROOT/SPLIT/parts/ID.png (part instance ids, same
//                  convention) and ROOT/unseen_classes.txt (the default
//                  zero-shot split), which this adapter does not read.
// Without a list file the ids are the label files found (sorted), and every
// image in the image folder must then have a label.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core/mat.hpp>

#include "ovseg/harness/class_names.hpp"

namespace ovseg::harness {

struct Sample {
  std::string id;          // e.g. "2007_000033", "frankfurt/frankfurt_000000_000294"
  std::string image_path;  // may not exist for label-only folders (has_images() false)
  std::string label_path;  // the label PNG, or the annotation JSON (coco_object)
  cv::Mat label;           // CV_32SC1 class indices, ignore_index() where void
  cv::Mat image;           // CV_8UC3 BGR; filled only when sample(i, true)
  // CV_32SC1 object instance ids, same size as label: 0 = no instance
  // (stuff), k = the k-th object (all its pixels, parts included; occlusion
  // respected). Empty when the data set has none; only the "folder" adapter
  // fills it, from ROOT/SPLIT/instances/ID.png when that file exists.
  cv::Mat instances;
};

class Dataset {
 public:
  virtual ~Dataset() = default;

  virtual std::string name() const = 0;  // registry name, e.g. "voc21"
  virtual std::string split() const = 0;
  virtual std::string root() const = 0;
  virtual std::size_t size() const = 0;
  virtual std::string id(std::size_t i) const = 0;
  // Loads sample i's label (and with load_image its image, checking that the
  // two have the same size). Throws std::out_of_range for a bad index and
  // std::runtime_error naming the file for a missing, unreadable, mismatched
  // or out-of-range label or image.
  virtual Sample sample(std::size_t i, bool load_image = false) const = 0;
  // Whether image files are present (false for label-only folders).
  virtual bool has_images() const = 0;
  virtual const ClassNames& class_names() const = 0;

  int num_classes() const { return static_cast<int>(class_names().size()); }
  int ignore_index() const { return 255; }
  // The name each class is shown and recorded under: the first synonym,
  // except VOC21's and COCO-Object's class 0, whose synonyms are the
  // background word list SCLIP queries (sky, wall, tree, ...): "background".
  std::vector<std::string> display_class_names() const;
};

// name: one of dataset_names() (aliases: "voc" = voc21, "pc59"/"pc60",
// "coco_stuff"/"coco_stuff164k" = coco_stuff171, "ade"/"ade150" = ade20k,
// "city"/"city_scapes" = cityscapes, "object"/"coco_objects" = coco_object,
// "ppp"/"person_part" = pascal_person_part, "world" = folder). split: "val" (default), "train", ...
// Throws std::invalid_argument for an unknown name and std::runtime_error
// naming the missing file or folder when the layout is not found.
std::unique_ptr<Dataset> make_dataset(const std::string& name, const std::string& data_root,
                                      const std::string& split = "val");
std::vector<std::string> dataset_names();
// Canonical registry name for a name or alias; throws std::invalid_argument.
std::string canonical_dataset_name(const std::string& name);
// Class count of a registered data set (without touching the disk); 0 for
// "folder", whose classes are listed in its data root.
int dataset_num_classes(const std::string& name);

}  // namespace ovseg::harness
