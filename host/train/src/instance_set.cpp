#include "ovseg/train/instance_set.hpp"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include <ATen/ATen.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace fs = std::filesystem;

namespace ovseg::train {

namespace {

// Each 8-connected component of a thing class -> its own id (1, 2, ...).
cv::Mat instances_from_labels(const cv::Mat& labels, const std::function<bool(int)>& is_thing) {
  cv::Mat out = cv::Mat::zeros(labels.size(), CV_16UC1);
  int next = 1;
  double max_label = 0;
  cv::minMaxLoc(labels, nullptr, &max_label);
  for (int cls = 0; cls <= static_cast<int>(max_label); ++cls) {
    if (!is_thing(cls)) continue;
    cv::Mat components;
    const int n = cv::connectedComponents(labels == cls, components, 8, CV_32S);
    for (int c = 1; c < n; ++c) out.setTo(next++, components == c);
  }
  return out;
}

}  // namespace

InstanceSet load_instance_folder(const std::string& root, const std::string& split, int64_t limit,
                                 const std::function<bool(int)>& is_thing) {
  const fs::path dir = fs::path(root) / split;
  if (!fs::is_directory(dir / "images"))
    throw std::runtime_error("no images folder " + (dir / "images").string() + " (write one with `ovseg world`)");
  const bool have_instances = fs::is_directory(dir / "instances");
  if (!have_instances && !(is_thing && fs::is_directory(dir / "labels")))
    throw std::runtime_error("no instance masks in " + (dir / "instances").string() +
                             " (16-bit PNGs, 0 = no instance; `ovseg world` v2 writes them)");
  std::vector<std::string> ids;
  for (const auto& e : fs::directory_iterator(dir / "images"))
    if (e.path().extension() == ".png") ids.push_back(e.path().stem().string());
  std::sort(ids.begin(), ids.end());
  if (limit > 0 && static_cast<int64_t>(ids.size()) > limit) ids.resize(static_cast<size_t>(limit));
  if (ids.empty()) throw std::runtime_error("no PNG images in " + (dir / "images").string());

  InstanceSet set;
  set.ids = ids;
  set.derived_from_labels = !have_instances;
  int h = 0, w = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    const fs::path img_path = dir / "images" / (ids[i] + ".png");
    const cv::Mat bgr = cv::imread(img_path.string(), cv::IMREAD_COLOR);
    if (bgr.empty()) throw std::runtime_error("cannot read image " + img_path.string());
    cv::Mat inst;
    if (have_instances) {
      const fs::path p = dir / "instances" / (ids[i] + ".png");
      inst = cv::imread(p.string(), cv::IMREAD_UNCHANGED);
      if (inst.empty()) throw std::runtime_error("cannot read instance map " + p.string());
      if (inst.channels() != 1)
        throw std::runtime_error("instance map " + p.string() + " has " + std::to_string(inst.channels()) +
                                 " channels, expected one (16-bit ids)");
      inst.convertTo(inst, CV_16UC1);
    } else {
      const fs::path p = dir / "labels" / (ids[i] + ".png");
      const cv::Mat labels = cv::imread(p.string(), cv::IMREAD_GRAYSCALE);
      if (labels.empty()) throw std::runtime_error("cannot read label map " + p.string());
      inst = instances_from_labels(labels, is_thing);
    }
    if (i == 0) {
      h = bgr.rows;
      w = bgr.cols;
      set.images = at::empty({static_cast<int64_t>(ids.size()), h, w, 3}, at::kByte);
      set.instances = at::empty({static_cast<int64_t>(ids.size()), h, w}, at::kShort);
    } else if (bgr.rows != h || bgr.cols != w) {
      throw std::runtime_error("image " + img_path.string() + " is " + std::to_string(bgr.cols) + "x" +
                               std::to_string(bgr.rows) + ", the first one is " + std::to_string(w) + "x" +
                               std::to_string(h) + " (one size per set)");
    }
    if (inst.rows != h || inst.cols != w)
      throw std::runtime_error("instance map of " + ids[i] + " is " + std::to_string(inst.cols) + "x" +
                               std::to_string(inst.rows) + ", its image " + std::to_string(w) + "x" +
                               std::to_string(h));
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    set.images[static_cast<int64_t>(i)].copy_(at::from_blob(rgb.data, {h, w, 3}, at::kByte));
    // 16-bit ids above 32767 do not occur in practice; keep them as they are.
    set.instances[static_cast<int64_t>(i)].copy_(at::from_blob(inst.data, {h, w}, at::kShort));
  }
  return set;
}

std::vector<int64_t> instance_ids(const at::Tensor& instance_map, int64_t min_area) {
  const at::Tensor flat = instance_map.flatten().to(at::kLong);
  const at::Tensor counts = at::bincount(flat);
  std::vector<int64_t> ids;
  const auto c = counts.accessor<int64_t, 1>();
  for (int64_t id = 1; id < counts.size(0); ++id)
    if (c[id] >= std::max<int64_t>(1, min_area)) ids.push_back(id);
  return ids;
}

}  // namespace ovseg::train
