#include "paired_dataset.hpp"

#include "ovseg/harness/image_check.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>

#include "ovseg/harness/label_io.hpp"

namespace fs = std::filesystem;

namespace ovseg::harness::detail {

namespace {

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

std::vector<std::string> read_id_list(const fs::path& p) {
  std::ifstream f(p);
  if (!f) throw std::runtime_error("cannot read id list " + p.string());
  std::vector<std::string> ids;
  std::string line;
  while (std::getline(f, line)) {
    line = trim(line);
    if (line.empty()) continue;
    // LIP/CIHP style lists may carry extra columns; the id is the first token.
    const auto sp = line.find_first_of(" \t");
    ids.push_back(sp == std::string::npos ? line : line.substr(0, sp));
  }
  return ids;
}

// Files below dir (recursively if asked) whose name ends with suffix, as ids
// relative to dir without the suffix, sorted.
std::vector<std::string> list_ids(const fs::path& dir, const std::string& suffix, bool recursive) {
  std::vector<std::string> ids;
  auto consider = [&](const fs::directory_entry& e) {
    if (!e.is_regular_file()) return;
    const std::string rel = fs::relative(e.path(), dir).generic_string();
    if (ends_with(rel, suffix)) ids.push_back(rel.substr(0, rel.size() - suffix.size()));
  };
  if (recursive) {
    for (const auto& e : fs::recursive_directory_iterator(dir)) consider(e);
  } else {
    for (const auto& e : fs::directory_iterator(dir)) consider(e);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

class PairedDataset final : public Dataset {
 public:
  PairedDataset(PairedSpec spec, std::string root, std::string split)
      : spec_(std::move(spec)), root_(std::move(root)), split_(std::move(split)) {
    const fs::path r(root_);
    if (spec_.class_file.empty()) {
      names_ = checked_builtin_names(spec_.class_key, spec_.num_classes);
    } else {
      const fs::path f = r / spec_.class_file;
      if (!fs::is_regular_file(f))
        throw std::runtime_error(spec_.name + ": class-name file missing: " + f.string() +
                                 " (one class per line, synonyms separated by commas)");
      names_ = load_class_names(f.string());
      if (spec_.num_classes > 0) check_class_count(names_, spec_.num_classes, f.string());
      if (names_.size() > 255)
        throw std::runtime_error(spec_.name + ": " + f.string() + " lists " + std::to_string(names_.size()) +
                                 " classes; 8-bit label PNGs hold at most 255 (255 = ignore)");
    }
    if (!fs::is_directory(r)) throw std::runtime_error(spec_.name + ": data root is not a directory: " + root_);
    const PairedLayout* chosen = nullptr;
    std::string tried;
    for (const auto& l : spec_.layouts) {
      if (fs::is_directory(r / l.label_dir)) {
        chosen = &l;
        break;
      }
      tried += "\n  " + (r / l.label_dir).string();
    }
    if (!chosen)
      throw std::runtime_error(spec_.name + " (" + split_ + "): no label folder found under " + root_ +
                               "; looked for:" + tried);
    layout_ = *chosen;
    label_dir_ = r / layout_.label_dir;
    image_dir_ = r / layout_.image_dir;
    has_images_ = fs::is_directory(image_dir_);

    fs::path list;
    for (const auto& lf : layout_.list_files)
      if (fs::is_regular_file(r / lf)) {
        list = r / lf;
        break;
      }
    if (!list.empty()) {
      ids_ = read_id_list(list);
      if (ids_.empty()) throw std::runtime_error(spec_.name + ": id list is empty: " + list.string());
      for (const auto& id : ids_) {
        const fs::path lp = label_path(id);
        if (!fs::is_regular_file(lp))
          throw std::runtime_error(spec_.name + ": label file missing: " + lp.string() + " (id '" + id +
                                   "' listed in " + list.string() + ")");
        if (has_images_ && image_path(id).empty())
          throw std::runtime_error(spec_.name +
                                   ": image file missing: " + (image_dir_ / (id + layout_.image_suffix)).string() +
                                   " (id '" + id + "' listed in " + list.string() + ")");
      }
    } else {
      ids_ = list_ids(label_dir_, layout_.label_suffix, layout_.recursive);
      if (ids_.empty())
        throw std::runtime_error(spec_.name + ": no label files (*" + layout_.label_suffix + ") in " +
                                 label_dir_.string());
      if (has_images_) {
        const std::set<std::string> have(ids_.begin(), ids_.end());
        std::vector<std::string> suffixes{layout_.image_suffix};
        suffixes.insert(suffixes.end(), layout_.alt_image_suffixes.begin(), layout_.alt_image_suffixes.end());
        for (const auto& suf : suffixes)
          for (const auto& iid : list_ids(image_dir_, suf, layout_.recursive))
            if (!have.count(iid))
              throw std::runtime_error(spec_.name + ": image without label: " + (image_dir_ / (iid + suf)).string() +
                                       " (expected " + label_path(iid).string() + ")");
        for (const auto& id : ids_)
          if (image_path(id).empty())
            throw std::runtime_error(spec_.name + ": label without image: " + label_path(id).string() + " (expected " +
                                     (image_dir_ / (id + layout_.image_suffix)).string() + ")");
      }
    }
  }

  std::string name() const override { return spec_.name; }
  std::string split() const override { return split_; }
  std::string root() const override { return root_; }
  std::size_t size() const override { return ids_.size(); }
  bool has_images() const override { return has_images_; }
  const ClassNames& class_names() const override { return names_; }
  std::string id(std::size_t i) const override {
    check(i);
    return ids_[i];
  }

  Sample sample(std::size_t i, bool load_image) const override {
    check(i);
    Sample s;
    s.id = ids_[i];
    s.label_path = label_path(s.id).string();
    const fs::path ip = image_path(s.id);
    s.image_path = ip.empty() ? (image_dir_ / (s.id + layout_.image_suffix)).string() : ip.string();
    s.label = read_label_png(s.label_path);
    if (spec_.transform) spec_.transform(s.label);
    validate_label(s.label, num_classes(), ignore_index(), s.label_path, spec_.name);
    if (load_image) s.image = load_image_checked(s.image_path, s.label, s.label_path);
    if (!layout_.instance_dir.empty()) s.instances = load_instances(s.id, s.label, s.label_path);
    return s;
  }

 private:
  void check(std::size_t i) const {
    if (i >= ids_.size())
      throw std::out_of_range(spec_.name + ": sample index " + std::to_string(i) + " out of range (size " +
                              std::to_string(ids_.size()) + ")");
  }
  fs::path label_path(const std::string& id) const { return label_dir_ / (id + layout_.label_suffix); }
  // The instance map beside the label, as CV_32SC1; empty when there is none.
  cv::Mat load_instances(const std::string& id, const cv::Mat& label, const std::string& label_path) const {
    const fs::path p = fs::path(root_) / layout_.instance_dir / (id + ".png");
    if (!fs::is_regular_file(p)) return {};
    const cv::Mat raw = cv::imread(p.string(), cv::IMREAD_UNCHANGED);
    if (raw.empty()) throw std::runtime_error(spec_.name + ": instance file unreadable: " + p.string());
    if (raw.channels() != 1 || (raw.depth() != CV_8U && raw.depth() != CV_16U))
      throw std::runtime_error(spec_.name + ": instance file " + p.string() +
                               " must be a one-channel 8- or 16-bit PNG of instance ids");
    if (raw.size() != label.size())
      throw std::runtime_error("size mismatch: instance file " + p.string() + " is " + std::to_string(raw.cols) + "x" +
                               std::to_string(raw.rows) + " but label " + label_path + " is " +
                               std::to_string(label.cols) + "x" + std::to_string(label.rows));
    cv::Mat ids;
    raw.convertTo(ids, CV_32S);
    return ids;
  }
  // Existing image path, or empty.
  fs::path image_path(const std::string& id) const {
    fs::path p = image_dir_ / (id + layout_.image_suffix);
    if (fs::is_regular_file(p)) return p;
    for (const auto& suf : layout_.alt_image_suffixes) {
      fs::path q = image_dir_ / (id + suf);
      if (fs::is_regular_file(q)) return q;
    }
    return {};
  }

  PairedSpec spec_;
  std::string root_, split_;
  PairedLayout layout_;
  fs::path label_dir_, image_dir_;
  bool has_images_ = false;
  std::vector<std::string> ids_;
  ClassNames names_;
};

}  // namespace

std::unique_ptr<Dataset> make_paired_dataset(const PairedSpec& spec, const std::string& root,
                                             const std::string& split) {
  return std::make_unique<PairedDataset>(spec, root, split);
}

void reduce_zero_label(cv::Mat& label) {
  CV_Assert(label.type() == CV_32SC1);
  label.forEach<std::int32_t>([](std::int32_t& v, const int*) {
    if (v == 0)
      v = 255;
    else if (v != 255)
      v -= 1;
  });
}

void apply_lut(cv::Mat& label, const std::vector<int>& lut, int fallback) {
  CV_Assert(label.type() == CV_32SC1);
  label.forEach<std::int32_t>([&](std::int32_t& v, const int*) {
    v = (v >= 0 && static_cast<std::size_t>(v) < lut.size()) ? lut[v] : fallback;
  });
}

ClassNames checked_builtin_names(const std::string& key, int expected) {
  ClassNames n = builtin_class_names(key);
  check_class_count(n, static_cast<std::size_t>(expected), "built-in class-name list '" + key + "'");
  return n;
}

cv::Mat load_image_checked(const std::string& image_path, const cv::Mat& label, const std::string& label_path) {
  if (!fs::is_regular_file(image_path))
    throw std::runtime_error("image file not found: " + image_path + " (label: " + label_path + ")");
  if (const std::string problem = image_file_problem(image_path); !problem.empty())
    throw std::runtime_error("image file " + image_path + " " + problem);
  cv::Mat img = cv::imread(image_path, cv::IMREAD_COLOR);
  if (img.empty()) throw std::runtime_error("image file unreadable: " + image_path);
  if (img.size() != label.size())
    throw std::runtime_error("size mismatch: image " + image_path + " is " + std::to_string(img.cols) + "x" +
                             std::to_string(img.rows) + " but label " + label_path + " is " +
                             std::to_string(label.cols) + "x" + std::to_string(label.rows));
  return img;
}

void validate_label(const cv::Mat& label, int num_classes, int ignore_index, const std::string& label_path,
                    const std::string& dataset) {
  CV_Assert(label.type() == CV_32SC1);
  for (int y = 0; y < label.rows; ++y) {
    const auto* p = label.ptr<std::int32_t>(y);
    for (int x = 0; x < label.cols; ++x) {
      const int v = p[x];
      if ((v < 0 || v >= num_classes) && v != ignore_index)
        throw std::runtime_error(dataset + ": label file " + label_path + " has value " + std::to_string(v) +
                                 " at (x=" + std::to_string(x) + ", y=" + std::to_string(y) + "), outside [0, " +
                                 std::to_string(num_classes) + ") and not the ignore index " +
                                 std::to_string(ignore_index) + " (after the dataset's label mapping)");
    }
  }
}

}  // namespace ovseg::harness::detail
