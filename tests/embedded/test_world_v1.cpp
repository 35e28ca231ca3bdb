// World version 1 (the 8-class world the first embedded CLIP was trained on)
// must stay reproducible byte for byte: its pixels, labels and captions are
// pinned by a digest recorded from the generator before world v2 existed
// (commit 9bb9538).
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include "world_test_util.hpp"

using namespace ovseg;

TEST_CASE("world version 1: scenes, labels and captions are exactly the recorded ones") {
  CHECK(world_test::digest(1) == "88a8ba51d0364402");
}

TEST_CASE("world version 1: instances cover exactly its shapes") {
  world::SceneOptions o;
  o.version = 1;
  for (uint64_t i = 0; i < 50; ++i) {
    const world::Scene s = world::render_scene(world::scene_seed(0, "train", i), o);
    REQUIRE(s.instances.type() == CV_16UC1);
    CHECK(cv::countNonZero(s.parts) == 0);  // v1's shapes have no parts
    for (int y = 0; y < s.label.rows; ++y)
      for (int x = 0; x < s.label.cols; ++x)
        REQUIRE((s.label.at<uchar>(y, x) >= 3) == (s.instances.at<uint16_t>(y, x) > 0));
  }
}
