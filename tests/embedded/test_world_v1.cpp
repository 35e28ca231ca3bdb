// World version 1 (the 8-class world the first embedded CLIP was trained on)
// must stay reproducible byte for byte: its pixels, labels and captions are
// pinned by a hash recorded from the generator before world v2 existed.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "ovseg/world/world.hpp"

using namespace ovseg;

namespace {

uint64_t fnv1a(uint64_t h, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

// 64 training scenes (64 px, world seed 0: what the first CLIP was trained
// on) and 16 evaluation scenes (128 px, seed 2026: the first demo's).
std::string world_v1_digest() {
  uint64_t h = 1469598103934665603ull;
  for (int pass = 0; pass < 2; ++pass) {
    world::SceneOptions o;
    o.width = o.height = pass ? 128 : 64;
    const char* split = pass ? "val" : "train";
    const uint64_t world_seed = pass ? 2026 : 0;
    for (int i = 0; i < (pass ? 16 : 64); ++i) {
      const world::Scene s = world::render_scene(world::scene_seed(world_seed, split, i), o);
      h = fnv1a(h, s.image.data, s.image.total() * s.image.elemSize());
      h = fnv1a(h, s.label.data, s.label.total() * s.label.elemSize());
      h = fnv1a(h, s.caption.data(), s.caption.size());
    }
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace

TEST_CASE("world version 1: scenes, labels and captions are exactly the recorded ones") {
  CHECK(world_v1_digest() == "88a8ba51d0364402");
}
