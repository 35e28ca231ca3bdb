// The public world API: version dispatch, scene seeds, class-name files.
#include <algorithm>
#include <stdexcept>

#include "versions.hpp"

namespace ovseg::world {

namespace {

void check_version(int version) {
  if (version != 1 && version != 2)
    throw std::invalid_argument("unknown world version " + std::to_string(version) + " (known: 1, 2)");
}

}  // namespace

const std::vector<WorldClass>& world_classes(int version) {
  check_version(version);
  return version == 1 ? v1::classes() : v2::classes();
}

int world_class_count(int version) { return static_cast<int>(world_classes(version).size()); }

std::vector<std::string> default_unseen_classes(int version) {
  check_version(version);
  return version == 1 ? std::vector<std::string>{} : v2::unseen_classes();
}

Scene render_scene(uint64_t seed, const SceneOptions& options) {
  check_version(options.version);
  return options.version == 1 ? v1::render(seed, options.width, options.height)
                              : v2::render(seed, options.width, options.height);
}

int renumber_visible(cv::Mat& drawn) {
  CV_Assert(drawn.type() == CV_16UC1);
  std::vector<uint16_t> map(65536, 0);
  for (int y = 0; y < drawn.rows; ++y) {
    const uint16_t* p = drawn.ptr<uint16_t>(y);
    for (int x = 0; x < drawn.cols; ++x) map[p[x]] = 1;
  }
  map[0] = 0;  // no object stays no object
  int n = 0;
  for (size_t id = 1; id < map.size(); ++id)
    if (map[id]) map[id] = static_cast<uint16_t>(++n);
  for (int y = 0; y < drawn.rows; ++y) {
    uint16_t* p = drawn.ptr<uint16_t>(y);
    for (int x = 0; x < drawn.cols; ++x) p[x] = map[p[x]];
  }
  return n;
}

uint64_t scene_seed(uint64_t world_seed, const std::string& split, uint64_t index) {
  // FNV-1a over the split name, then splitmix64 over the three parts.
  uint64_t hsplit = 1469598103934665603ull;
  for (const unsigned char ch : split) hsplit = (hsplit ^ ch) * 1099511628211ull;
  auto mix = [](uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  return mix(mix(mix(world_seed) ^ hsplit) ^ index);
}

std::string world_class_names_text(int version) {
  std::string text;
  for (const auto& c : world_classes(version)) {
    for (size_t i = 0; i < c.synonyms.size(); ++i) text += (i ? "," : "") + c.synonyms[i];
    text += "\n";
  }
  return text;
}

std::string unseen_classes_text(int version) {
  const auto unseen = default_unseen_classes(version);
  if (unseen.empty()) return {};
  std::string text = "# The default zero-shot split of world v" + std::to_string(version) +
                     ": classes a segmentation model must not\n"
                     "# see in training (ignore their pixels); evaluate mIoU on seen and unseen\n"
                     "# classes and their harmonic mean. One display name per line (the first name\n"
                     "# on the class's line of class_names.txt). The CLIP may see every class in\n"
                     "# captions, as a real CLIP's web captions name them all.\n";
  for (const auto& name : unseen) text += name + "\n";
  return text;
}

}  // namespace ovseg::world
