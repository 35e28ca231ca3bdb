#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "ovseg/harness/coco_object.hpp"
#include "paired_dataset.hpp"

namespace fs = std::filesystem;

namespace ovseg::harness {

CrowdPolicy parse_crowd_policy(const std::string& s) {
  if (s == "background") return CrowdPolicy::Background;
  if (s == "ignore") return CrowdPolicy::Ignore;
  if (s == "label") return CrowdPolicy::Label;
  throw std::invalid_argument("unknown crowd policy '" + s + "' (background, ignore, label)");
}

std::string to_string(CrowdPolicy p) {
  switch (p) {
    case CrowdPolicy::Background: return "background";
    case CrowdPolicy::Ignore: return "ignore";
    case CrowdPolicy::Label: return "label";
  }
  return "?";
}

namespace {

using nlohmann::json;

std::runtime_error bad(const std::string& file, const std::string& why) {
  return std::runtime_error("COCO instances " + file + ": " + why);
}

CocoSegmentation parse_segmentation(const json& s, const std::string& file, std::int64_t ann_id) {
  const std::string where = "annotation " + std::to_string(ann_id);
  CocoSegmentation seg;
  if (s.is_array()) {
    seg.kind = CocoSegmentation::Kind::Polygons;
    for (const auto& poly : s) {
      if (!poly.is_array()) throw bad(file, where + ": polygon is not an array of numbers");
      std::vector<double> xy;
      xy.reserve(poly.size());
      for (const auto& v : poly) {
        if (!v.is_number()) throw bad(file, where + ": polygon coordinate is not a number");
        xy.push_back(v.get<double>());
      }
      seg.polygons.push_back(std::move(xy));
    }
    return seg;
  }
  if (s.is_object() && s.contains("counts") && s.contains("size")) {
    const auto& size = s["size"];
    if (!size.is_array() || size.size() != 2 || !size[0].is_number_integer() || !size[1].is_number_integer())
      throw bad(file, where + ": RLE \"size\" must be [height, width]");
    seg.rle_h = size[0].get<std::uint32_t>();
    seg.rle_w = size[1].get<std::uint32_t>();
    const auto& c = s["counts"];
    if (c.is_string()) {
      seg.kind = CocoSegmentation::Kind::CompressedRle;
      seg.compressed = c.get<std::string>();
    } else if (c.is_array()) {
      seg.kind = CocoSegmentation::Kind::UncompressedRle;
      seg.counts.reserve(c.size());
      for (const auto& v : c) {
        if (!v.is_number_integer() || v.get<long long>() < 0)
          throw bad(file, where + ": RLE count is not a non-negative integer");
        seg.counts.push_back(static_cast<std::uint32_t>(v.get<long long>()));
      }
    } else {
      throw bad(file, where + ": RLE \"counts\" must be a string or an array");
    }
    return seg;
  }
  throw bad(file, where + ": \"segmentation\" is neither polygons nor an RLE object");
}

template <typename T>
T field(const json& o, const char* key, const std::string& file, const std::string& where) {
  if (!o.contains(key)) throw bad(file, where + ": missing \"" + key + "\"");
  try {
    return o[key].get<T>();
  } catch (const json::exception&) {
    throw bad(file, where + ": field \"" + key + "\" has the wrong type");
  }
}

}  // namespace

CocoInstances CocoInstances::load(const std::string& json_path) {
  std::ifstream f(json_path, std::ios::binary);
  if (!f) throw std::runtime_error("COCO instances file not found or unreadable: " + json_path);
  json j;
  try {
    j = json::parse(f);
  } catch (const json::exception& e) {
    throw bad(json_path, std::string("invalid JSON: ") + e.what());
  }
  for (const char* key : {"images", "annotations", "categories"})
    if (!j.contains(key) || !j[key].is_array()) throw bad(json_path, std::string("missing array \"") + key + "\"");

  CocoInstances c;
  c.path = json_path;
  for (const auto& cat : j["categories"])
    c.categories.push_back({field<std::int64_t>(cat, "id", json_path, "category"),
                            field<std::string>(cat, "name", json_path, "category")});
  std::sort(c.categories.begin(), c.categories.end(),
            [](const CocoCategory& a, const CocoCategory& b) { return a.id < b.id; });
  for (std::size_t i = 0; i < c.categories.size(); ++i) {
    if (!c.cat_index_.emplace(c.categories[i].id, static_cast<int>(i)).second)
      throw bad(json_path, "duplicate category id " + std::to_string(c.categories[i].id));
  }

  std::map<std::int64_t, std::size_t> img_index;
  for (const auto& im : j["images"]) {
    CocoImageEntry e;
    e.id = field<std::int64_t>(im, "id", json_path, "image");
    const std::string where = "image " + std::to_string(e.id);
    e.file_name = field<std::string>(im, "file_name", json_path, where);
    e.height = field<std::uint32_t>(im, "height", json_path, where);
    e.width = field<std::uint32_t>(im, "width", json_path, where);
    if (!img_index.emplace(e.id, c.images.size()).second)
      throw bad(json_path, "duplicate image id " + std::to_string(e.id));
    c.images.push_back(std::move(e));
  }

  for (const auto& an : j["annotations"]) {
    CocoAnnotation a;
    a.id = field<std::int64_t>(an, "id", json_path, "annotation");
    const std::string where = "annotation " + std::to_string(a.id);
    a.image_id = field<std::int64_t>(an, "image_id", json_path, where);
    a.category_id = field<std::int64_t>(an, "category_id", json_path, where);
    a.iscrowd = an.contains("iscrowd") && an["iscrowd"].is_number() && an["iscrowd"].get<int>() != 0;
    if (an.contains("area") && an["area"].is_number()) a.area = an["area"].get<double>();
    if (!an.contains("segmentation")) throw bad(json_path, where + ": missing \"segmentation\"");
    a.segmentation = parse_segmentation(an["segmentation"], json_path, a.id);
    const auto it = img_index.find(a.image_id);
    if (it == img_index.end())
      throw bad(json_path, where + " refers to unknown image id " + std::to_string(a.image_id));
    if (!c.cat_index_.count(a.category_id))
      throw bad(json_path, where + " has unknown category id " + std::to_string(a.category_id));
    c.images[it->second].annotations.push_back(c.annotations.size());
    c.annotations.push_back(std::move(a));
  }
  return c;
}

int CocoInstances::contiguous_label(std::int64_t category_id) const {
  const auto it = cat_index_.find(category_id);
  if (it == cat_index_.end())
    throw std::runtime_error("COCO instances " + path + ": unknown category id " + std::to_string(category_id));
  return it->second + 1;
}

coco::Rle annotation_to_rle(const CocoAnnotation& a, std::uint32_t h, std::uint32_t w) {
  const auto& s = a.segmentation;
  const std::string where = "annotation " + std::to_string(a.id);
  switch (s.kind) {
    case CocoSegmentation::Kind::Polygons: {
      // frPyObjects(list): a first element of 4 numbers means boxes.
      std::vector<coco::Rle> rles;
      if (s.polygons.empty()) return coco::Rle{h, w, {h * w}};
      if (s.polygons[0].size() == 4) {
        for (const auto& bb : s.polygons) {
          if (bb.size() != 4) throw std::runtime_error(where + ": mixed box/polygon segmentation");
          rles.push_back(coco::rle_from_bbox(bb.data(), h, w));
        }
      } else if (s.polygons[0].size() > 4) {
        for (const auto& p : s.polygons) rles.push_back(coco::rle_from_polygon(p, h, w));
      } else {
        throw std::runtime_error(where + ": polygon with fewer than 3 points");
      }
      return coco::rle_merge(rles, false);
    }
    case CocoSegmentation::Kind::UncompressedRle: {
      coco::Rle r{s.rle_h, s.rle_w, s.counts};
      return r;
    }
    case CocoSegmentation::Kind::CompressedRle: return coco::rle_from_string(s.compressed, s.rle_h, s.rle_w);
  }
  return {};
}

cv::Mat rasterize_coco_object(const CocoInstances& c, std::size_t image_index, CrowdPolicy crowd) {
  if (image_index >= c.images.size())
    throw std::out_of_range("rasterize_coco_object: image index " + std::to_string(image_index));
  const auto& im = c.images[image_index];
  cv::Mat label(static_cast<int>(im.height), static_cast<int>(im.width), CV_32SC1, cv::Scalar(0));
  for (std::size_t ai : im.annotations) {
    const auto& a = c.annotations[ai];
    if (a.iscrowd && crowd == CrowdPolicy::Background) continue;
    const int value = (a.iscrowd && crowd == CrowdPolicy::Ignore) ? 255 : c.contiguous_label(a.category_id);
    const coco::Rle r = annotation_to_rle(a, im.height, im.width);
    if (r.h != im.height || r.w != im.width)
      throw std::runtime_error("COCO instances " + c.path + ": annotation " + std::to_string(a.id) +
                               " has an RLE of size " + std::to_string(r.h) + "x" + std::to_string(r.w) +
                               " but its image " + im.file_name + " is " + std::to_string(im.height) + "x" +
                               std::to_string(im.width) + " (height x width)");
    try {
      coco::rle_paint(r, label, value);
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error("COCO instances " + c.path + ": annotation " + std::to_string(a.id) + ": " + e.what());
    }
  }
  return label;
}

namespace {

class CocoObjectDataset final : public Dataset {
 public:
  CocoObjectDataset(const std::string& json_path, const std::string& image_dir, std::string split, CrowdPolicy crowd,
                    std::string root)
      : split_(std::move(split)), root_(std::move(root)), image_dir_(image_dir), crowd_(crowd) {
    names_ = detail::checked_builtin_names("coco_object", 81);
    coco_ = CocoInstances::load(json_path);
    if (coco_.categories.size() != 80)
      throw std::runtime_error("COCO instances " + json_path + ": " + std::to_string(coco_.categories.size()) +
                               " categories, COCO-Object expects the 80 thing categories");
    has_images_ = fs::is_directory(image_dir_);
    if (has_images_)
      for (const auto& im : coco_.images)
        if (!fs::is_regular_file(fs::path(image_dir_) / im.file_name))
          throw std::runtime_error(
              "coco_object: image file missing: " + (fs::path(image_dir_) / im.file_name).string() + " (image id " +
              std::to_string(im.id) + " in " + json_path + ")");
  }

  std::string name() const override { return "coco_object"; }
  std::string split() const override { return split_; }
  std::string root() const override { return root_; }
  std::size_t size() const override { return coco_.images.size(); }
  bool has_images() const override { return has_images_; }
  const ClassNames& class_names() const override { return names_; }
  std::string id(std::size_t i) const override {
    check(i);
    return stem(coco_.images[i].file_name);
  }
  Sample sample(std::size_t i, bool load_image) const override {
    check(i);
    Sample s;
    const auto& im = coco_.images[i];
    s.id = stem(im.file_name);
    s.image_path = (fs::path(image_dir_) / im.file_name).string();
    s.label_path = coco_.path;
    s.label = rasterize_coco_object(coco_, i, crowd_);
    if (load_image) s.image = detail::load_image_checked(s.image_path, s.label, s.label_path);
    return s;
  }
  const CocoInstances& instances() const { return coco_; }

 private:
  static std::string stem(const std::string& f) { return fs::path(f).stem().string(); }
  void check(std::size_t i) const {
    if (i >= coco_.images.size())
      throw std::out_of_range("coco_object: sample index " + std::to_string(i) + " out of range (size " +
                              std::to_string(coco_.images.size()) + ")");
  }
  std::string split_, root_, image_dir_;
  CrowdPolicy crowd_;
  bool has_images_ = false;
  CocoInstances coco_;
  ClassNames names_;
};

}  // namespace

std::unique_ptr<Dataset> make_coco_object_dataset(const std::string& json_path, const std::string& image_dir,
                                                  const std::string& split, CrowdPolicy crowd) {
  return std::make_unique<CocoObjectDataset>(json_path, image_dir, split, crowd,
                                             fs::path(json_path).parent_path().string());
}

namespace detail {

std::unique_ptr<Dataset> make_coco_object(const std::string& root, const std::string& split) {
  const fs::path r(root);
  if (!fs::is_directory(r)) throw std::runtime_error("coco_object: data root is not a directory: " + root);
  const std::string sub = (split.size() > 4 && split.substr(split.size() - 4) == "2017") ? split : split + "2017";
  const std::string json_name = "instances_" + sub + ".json";
  fs::path json_path;
  std::string tried;
  for (const fs::path& cand : {r / "annotations" / json_name, r / json_name}) {
    if (fs::is_regular_file(cand)) {
      json_path = cand;
      break;
    }
    tried += "\n  " + cand.string();
  }
  if (json_path.empty()) {  // flat: exactly one ROOT/instances_SPLIT2017*.json
    std::vector<fs::path> found;
    for (const auto& e : fs::directory_iterator(r)) {
      const std::string n = e.path().filename().string();
      if (e.is_regular_file() && n.rfind("instances_" + sub, 0) == 0 && e.path().extension() == ".json")
        found.push_back(e.path());
    }
    tried += "\n  " + (r / ("instances_" + sub + "*.json")).string();
    if (found.size() > 1)
      throw std::runtime_error("coco_object: several instance files match " +
                               (r / ("instances_" + sub + "*.json")).string());
    if (found.empty())
      throw std::runtime_error("coco_object (" + split + "): no COCO instance JSON found; looked for:" + tried);
    json_path = found[0];
  }
  fs::path image_dir;
  for (const fs::path& cand : {r / sub, r / "images" / sub, r / "images"})
    if (fs::is_directory(cand)) {
      image_dir = cand;
      break;
    }
  if (image_dir.empty()) image_dir = r / sub;  // labels only; sample(i, true) reports it
  return std::make_unique<CocoObjectDataset>(json_path.string(), image_dir.string(), split, CrowdPolicy::Background,
                                             root);
}

}  // namespace detail
}  // namespace ovseg::harness
