// Synthetic eval records for the table and report tests: the fields the
// table builders read, with numbers the tests choose.
#pragma once

#include <opencv2/core.hpp>

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ovseg/host/qualitative_pool.hpp"

namespace table_test {

using nlohmann::json;

struct RecordSpec {
  std::string pipeline;
  std::string dataset;
  double miou = 0;
  std::string date = "2026-01-01T00:00:00Z";
  std::vector<std::pair<std::string, double>> per_class;  // empty: two classes at miou
  std::string sha = std::string(64, 'a');
  int short_side = 336;
  std::string resolved_toml = "[pipeline]\nname = \"x\"\n";
};

inline json protocol(int short_side) {
  return {{"mode", "slide"}, {"short_side", short_side}, {"max_long_side", 2048}, {"window", 224},
          {"stride", 112},   {"prob_thd", 0.0},          {"area_thd", 0.0}};
}

inline json make_record(const RecordSpec& s) {
  json per_class = json::array();
  std::vector<std::string> names;
  auto classes = s.per_class;
  if (classes.empty()) classes = {{"sky", s.miou}, {"tree", s.miou}};
  for (const auto& [name, iou] : classes) {
    per_class.push_back({{"name", name}, {"iou", iou}, {"acc", iou + 5}, {"gt_pixels", 10}, {"pred_pixels", 10}});
    names.push_back(name);
  }
  return {{"kind", "ovseg-eval-record"},
          {"key", s.pipeline + "__" + s.dataset},
          {"date", s.date},
          {"pipeline", {{"name", s.pipeline}, {"sha256", s.sha}, {"resolved_toml", s.resolved_toml}}},
          {"dataset", {{"name", s.dataset}, {"split", "val"}, {"class_names", names}, {"num_classes", names.size()}}},
          {"protocol", protocol(s.short_side)},
          {"selection",
           {{"limit", nullptr}, {"shard", {{"index", 0}, {"count", 1}}}, {"num_images", 10}, {"ids", json::array()}}},
          {"metrics",
           {{"mIoU", s.miou},
            {"mAcc", s.miou + 5},
            {"aAcc", s.miou + 20},
            {"fwIoU", s.miou + 10},
            {"per_class", per_class}}},
          {"models", json::array()}};
}

inline json make_record(const std::string& pipeline, const std::string& dataset, double miou,
                        const std::string& date = "2026-01-01T00:00:00Z",
                        const std::vector<std::pair<std::string, double>>& per_class = {}) {
  RecordSpec s;
  s.pipeline = pipeline;
  s.dataset = dataset;
  s.miou = miou;
  s.date = date;
  s.per_class = per_class;
  return make_record(s);
}

// A record whose qualitative pool holds `images`: each a (truth, prediction)
// pair of label maps; the image is grey.
inline void add_pool(json& record, const std::vector<std::pair<cv::Mat, cv::Mat>>& images,
                     const std::vector<std::string>& ids) {
  json block = ovseg::qualitative_block();
  for (size_t i = 0; i < images.size(); ++i) {
    const cv::Mat bgr(images[i].first.size(), CV_8UC3, cv::Scalar(128, 128, 128));
    block["images"].push_back(ovseg::qualitative_entry(ids[i], i, bgr, images[i].first, images[i].second, 255,
                                                       static_cast<int>(record["dataset"]["class_names"].size())));
  }
  record["qualitative"] = block;
}

// A label map: the left `split` columns are class a, the rest class b.
inline cv::Mat halves(int a, int b, int split, int size = 16) {
  cv::Mat m(size, size, CV_32S, cv::Scalar(b));
  m(cv::Rect(0, 0, split, size)).setTo(cv::Scalar(a));
  return m;
}

}  // namespace table_test
