// Per-method predictions of the same images, for the report's qualitative
// comparison grid (image | truth | one column per method).
//
// A run stores, in record["qualitative"], a few pool images: the
// kQualitativePool images of its selection (the first `limit` images,
// before sharding) with the smallest FNV-1a hash of their id. The pool
// depends on the ids alone, so runs of different methods over the same
// selection store the same images, and a smaller pool is part of a larger
// one. For each pool image the record keeps a thumbnail of the image (JPEG),
// of its ground truth and of the prediction (PNG label maps), plus the exact
// per-class pixel counts of that image at full resolution, from which the
// report picks images by a rule (worst for a class, largest disagreement
// between two methods, random with a seed). About 4-10 kB per image (the
// JPEG dominates), so a record grows by 50-120 kB.
//
//   "qualitative": {"format": "pool-v1", "pool": 12, "thumbnail_side": 128,
//     "images": [{"id", "rank", "width", "height", "image", "truth",
//                 "prediction", "classes": [[c, gt_px, pred_px, inter_px]...]}]}
//
// Shards store their part of the pool and `ovseg merge` concatenates them;
// resume keeps the images already stored in the checkpoint.
#pragma once

#include <opencv2/core.hpp>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ovseg {

inline constexpr size_t kQualitativePool = 12;
inline constexpr int kThumbnailSide = 128;
inline constexpr const char* kQualitativeFormat = "pool-v1";

// Positions (into `ids`) of the pool, in pool order.
std::vector<size_t> qualitative_pool(const std::vector<std::string>& ids, size_t pool = kQualitativePool);

// The empty block a run starts with.
nlohmann::json qualitative_block();

// One pool image. bgr: the image (CV_8UC3); gt, pred: CV_32S label maps of
// one size; pixels with gt == ignore_index are not counted (and drawn as
// ignored in the truth thumbnail).
nlohmann::json qualitative_entry(const std::string& id, size_t rank, const cv::Mat& bgr, const cv::Mat& gt,
                                 const cv::Mat& pred, int ignore_index, int num_classes);

// Merges the pool images of shard records (ordered by rank, each id once).
nlohmann::json merge_qualitative(const std::vector<nlohmann::json>& blocks);

// Decodes a stored label thumbnail to CV_32S; ignored pixels become -1.
cv::Mat decode_label_thumbnail(const std::string& base64_png);

std::vector<unsigned char> base64_decode(const std::string& text);

}  // namespace ovseg
