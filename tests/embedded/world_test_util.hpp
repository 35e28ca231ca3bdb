// Helpers for the world tests: exact comparison and a digest of scenes.
#pragma once

#include <cstdio>
#include <string>

#include <opencv2/core.hpp>

#include "ovseg/world/world.hpp"

namespace world_test {

inline bool same_mat(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && (a.empty() || cv::norm(a, b, cv::NORM_INF) == 0);
}

inline uint64_t fnv1a(uint64_t h, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

// FNV-1a over 64 training scenes (64 px, world seed 0) and 16 evaluation
// scenes (128 px, seed 2026) of a world version: pixels, labels and captions
// (world v1's digest was recorded from these alone) and, from world v2 on,
// the instance and part maps.
inline std::string digest(int version) {
  uint64_t h = 1469598103934665603ull;
  for (int pass = 0; pass < 2; ++pass) {
    ovseg::world::SceneOptions o;
    o.width = o.height = pass ? 128 : 64;
    o.version = version;
    const char* split = pass ? "val" : "train";
    const uint64_t world_seed = pass ? 2026 : 0;
    for (int i = 0; i < (pass ? 16 : 64); ++i) {
      const ovseg::world::Scene s = ovseg::world::render_scene(ovseg::world::scene_seed(world_seed, split, i), o);
      h = fnv1a(h, s.image.data, s.image.total() * s.image.elemSize());
      h = fnv1a(h, s.label.data, s.label.total() * s.label.elemSize());
      h = fnv1a(h, s.caption.data(), s.caption.size());
      if (version >= 2) {
        h = fnv1a(h, s.instances.data, s.instances.total() * s.instances.elemSize());
        h = fnv1a(h, s.parts.data, s.parts.total() * s.parts.elemSize());
      }
    }
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace world_test
