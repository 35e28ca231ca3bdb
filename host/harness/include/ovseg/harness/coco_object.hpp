// COCO-Object (background + 80 thing classes) built from the official COCO
// instance JSON (instances_val2017.json), rasterised exactly as pycocotools'
// COCO.annToRLE / annToMask does (polygons through rleFrPoly and merged,
// uncompressed RLE counts arrays, compressed string RLE).
//
// Label map of an image: starts as background 0; the image's annotations are
// painted in the JSON's annotation order (later ones overwrite earlier ones)
// with label = 1 + the category's position among the JSON categories sorted
// by id (so 1..80 in category-id order, which is the order of SCLIP's
// cls_coco_object.txt after its background line).
//
// Crowd regions (iscrowd = 1). SCLIP/NACLIP/ClearCLIP build COCO-Object with
// GroupViT's datasets/cvt_coco_object.py from COCO-Stuff164k's
// stuffthingmaps: thing ids -> 1..80, every stuff id AND 255 ("unlabeled")
// -> 0, so their COCO-Object has no ignore label at all. The thing pixels of
// those maps come from COCO-Stuff's cocoSegmentationToSegmentationMap, whose
// default (includeCrowd=False) leaves crowd annotations out. The equivalent
// from the instance JSON is CrowdPolicy::Background (the default): crowd
// annotations are not painted, their pixels stay background (or keep the
// class of an overlapping non-crowd instance). CrowdPolicy::Ignore paints
// them 255 instead (the mmdet/panoptic habit), CrowdPolicy::Label paints them
// with their category like any instance.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ovseg/harness/coco_mask.hpp"
#include "ovseg/harness/dataset.hpp"

namespace ovseg::harness {

enum class CrowdPolicy { Background, Ignore, Label };
CrowdPolicy parse_crowd_policy(const std::string& s);  // "background", "ignore", "label"
std::string to_string(CrowdPolicy p);

struct CocoSegmentation {
  enum class Kind { Polygons, UncompressedRle, CompressedRle } kind = Kind::Polygons;
  std::vector<std::vector<double>> polygons;  // Kind::Polygons
  std::vector<std::uint32_t> counts;          // Kind::UncompressedRle
  std::string compressed;                     // Kind::CompressedRle
  std::uint32_t rle_h = 0, rle_w = 0;         // "size" of an RLE
};

struct CocoAnnotation {
  std::int64_t id = 0;
  std::int64_t image_id = 0;
  std::int64_t category_id = 0;
  bool iscrowd = false;
  double area = 0;  // the JSON's "area" field
  CocoSegmentation segmentation;
};

struct CocoImageEntry {
  std::int64_t id = 0;
  std::string file_name;
  std::uint32_t height = 0, width = 0;
  std::vector<std::size_t> annotations;  // indices into CocoInstances::annotations, JSON order
};

struct CocoCategory {
  std::int64_t id = 0;
  std::string name;
};

class CocoInstances {
 public:
  // Parses an instances_*.json; throws std::runtime_error naming the file
  // (and the annotation id) for unreadable JSON, missing fields, an
  // annotation of an unknown image or unknown category id.
  static CocoInstances load(const std::string& json_path);

  std::string path;
  std::vector<CocoImageEntry> images;  // JSON order
  std::vector<CocoAnnotation> annotations;
  std::vector<CocoCategory> categories;  // sorted by id
  // 1 + index in `categories`; throws std::runtime_error for an unknown id.
  int contiguous_label(std::int64_t category_id) const;

 private:
  std::map<std::int64_t, int> cat_index_;
};

// COCO.annToRLE: the annotation's mask as one RLE of the image's size.
coco::Rle annotation_to_rle(const CocoAnnotation& a, std::uint32_t height, std::uint32_t width);

// The COCO-Object label map (CV_32SC1) of images[image_index].
cv::Mat rasterize_coco_object(const CocoInstances& coco, std::size_t image_index,
                              CrowdPolicy crowd = CrowdPolicy::Background);

// Data set over an explicit JSON and image folder (make_dataset("coco_object")
// finds these by layout).
std::unique_ptr<Dataset> make_coco_object_dataset(const std::string& json_path, const std::string& image_dir,
                                                  const std::string& split = "val",
                                                  CrowdPolicy crowd = CrowdPolicy::Background);

}  // namespace ovseg::harness
