#include "ovseg/harness/zero_shot.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "ovseg/sdk/class_names.hpp"

namespace ovseg::harness {

namespace fs = std::filesystem;

namespace {

std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

// Classes whose name starts like `name` or contains it: a short hint list.
std::string hint(const std::string& name, const std::vector<std::string>& classes) {
  std::string out;
  int n = 0;
  for (const auto& c : classes)
    if (n < 4 && !name.empty() && (c.find(name.substr(0, 3)) != std::string::npos)) out += (n++ ? ", " : "") + c;
  return out.empty() ? "" : " (near: " + out + ")";
}

}  // namespace

ZeroShotSplit read_unseen_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot read the unseen-class list");
  ZeroShotSplit s;
  s.source = path;
  std::string line;
  while (std::getline(in, line)) {
    const std::string name = trim(line);
    if (name.empty() || name[0] == '#') continue;
    s.unseen.push_back(name);
  }
  return s;
}

ZeroShotSplit parse_unseen_argument(const std::string& argument) {
  if (argument == "none") return {{}, "none"};
  if (fs::is_regular_file(argument)) return read_unseen_file(argument);
  ZeroShotSplit s;
  try {
    s = {split_synonyms(argument), "--unseen " + argument};
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("--unseen '" + argument + "': " + e.what());
  }
  if (s.unseen.empty()) throw std::invalid_argument("--unseen '" + argument + "': no class names");
  return s;
}

ZeroShotSplit declared_zero_shot_split(const Dataset& ds) {
  const std::string name = ds.name();
  if (name == "folder") {
    const fs::path file = fs::path(ds.root()) / "unseen_classes.txt";
    if (fs::is_regular_file(file)) return read_unseen_file(file.string());
    return {};
  }
  if (name == "voc20" || name == "voc21")
    return {{"pottedplant", "sheep", "sofa", "train", "television monitor"},
            "ZS3Net / ZegCLIP VOC split (15 seen / 5 unseen)"};
  if (name == "coco_stuff171")
    return {{"frisbee", "skateboard", "cardboard", "carrot", "scissors", "suitcase", "giraffe", "cow", "road",
             "wall-concrete", "tree", "grass", "river", "clouds", "playingfield"},
            "SPNet / ZegFormer / ZegCLIP COCO-Stuff split (156 seen / 15 unseen)"};
  return {};
}

std::vector<bool> unseen_mask(const ZeroShotSplit& split, const std::vector<std::string>& classes) {
  std::vector<bool> mask(classes.size(), false);
  for (const auto& u : split.unseen) {
    auto it = std::find(classes.begin(), classes.end(), u);
    if (it == classes.end())
      throw std::invalid_argument("unseen class '" + u + "' (" + split.source + ") is not a class of the data set" +
                                  hint(u, classes));
    mask[static_cast<size_t>(it - classes.begin())] = true;
  }
  if (!split.unseen.empty() && std::all_of(mask.begin(), mask.end(), [](bool b) { return b; }))
    throw std::invalid_argument("the zero-shot split (" + split.source + ") leaves no seen class");
  return mask;
}

ZeroShotMetrics zero_shot_metrics(const SegmentationMetrics& m, const std::vector<bool>& unseen) {
  if (unseen.size() != m.iou.size())
    throw std::invalid_argument("zero_shot_metrics: " + std::to_string(unseen.size()) + " flags for " +
                                std::to_string(m.iou.size()) + " classes");
  std::vector<double> seen_iou, unseen_iou;
  for (size_t c = 0; c < unseen.size(); ++c) (unseen[c] ? unseen_iou : seen_iou).push_back(m.iou[c]);
  ZeroShotMetrics z;
  z.seen_classes = static_cast<int>(seen_iou.size());
  z.unseen_classes = static_cast<int>(unseen_iou.size());
  z.seen_miou = nanmean(seen_iou);
  z.unseen_miou = nanmean(unseen_iou);
  const double s = z.seen_miou, u = z.unseen_miou;
  z.hiou = (std::isnan(s) || std::isnan(u)) ? std::nan("") : (s + u > 0 ? 2 * s * u / (s + u) : 0.0);
  return z;
}

nlohmann::json zero_shot_to_json(const ZeroShotSplit& split, const ZeroShotMetrics& z) {
  auto num = [](double x) { return std::isnan(x) ? nlohmann::json(nullptr) : nlohmann::json(x); };
  return {{"unseen", split.unseen},
          {"source", split.source},
          {"mIoU_seen", num(z.seen_miou)},
          {"mIoU_unseen", num(z.unseen_miou)},
          {"hIoU", num(z.hiou)},
          {"seen_classes", z.seen_classes},
          {"unseen_classes", z.unseen_classes}};
}

}  // namespace ovseg::harness
