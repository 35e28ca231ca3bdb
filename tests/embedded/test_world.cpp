// The procedural world: determinism, ground truth consistent with captions,
// and the split written in the "folder" layout the harness reads.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "../eval/eval_test_util.hpp"
#include "ovseg/harness/dataset.hpp"
#include "ovseg/world/world.hpp"

using namespace ovseg;
using eval_test::TempDir;

namespace {

bool same_mat(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0;
}

bool mentions(const std::string& caption, const world::WorldClass& c) {
  return std::any_of(c.synonyms.begin(), c.synonyms.end(),
                     [&](const std::string& s) { return caption.find(s) != std::string::npos; });
}

}  // namespace

TEST_CASE("a scene is a pure function of its seed") {
  const uint64_t seed = world::scene_seed(7, "train", 3);
  CHECK(seed == world::scene_seed(7, "train", 3));
  CHECK(seed != world::scene_seed(7, "val", 3));
  CHECK(seed != world::scene_seed(8, "train", 3));
  CHECK(seed != world::scene_seed(7, "train", 4));
  const world::Scene a = world::render_scene(seed), b = world::render_scene(seed);
  CHECK(same_mat(a.image, b.image));
  CHECK(same_mat(a.label, b.label));
  CHECK(a.caption == b.caption);
  const world::Scene c = world::render_scene(world::scene_seed(7, "train", 4));
  CHECK_FALSE(same_mat(a.image, c.image));
}

TEST_CASE("scenes: every class occurs, labels are in range, captions name what is there") {
  const auto& classes = world::world_classes();
  REQUIRE(classes.size() == 8);
  std::vector<long> pixels(classes.size(), 0);
  int stuff_named = 0, thing_named = 0, things_seen = 0;
  for (uint64_t i = 0; i < 200; ++i) {
    world::SceneOptions o;
    o.width = o.height = (i % 2) ? 64 : 96;
    const world::Scene s = world::render_scene(world::scene_seed(1, "test", i), o);
    REQUIRE(s.image.type() == CV_8UC3);
    REQUIRE(s.label.type() == CV_8UC1);
    REQUIRE(s.image.size() == cv::Size(o.width, o.height));
    double mx = 0;
    cv::minMaxLoc(s.label, nullptr, &mx);
    REQUIRE(mx < classes.size());
    std::set<int> present;
    for (int c = 0; c < static_cast<int>(classes.size()); ++c) {
      const int n = cv::countNonZero(s.label == c);
      pixels[c] += n;
      if (n > 0) present.insert(c);
    }
    CHECK_FALSE(s.caption.empty());
    // No caption names a class that is absent from the ground truth.
    for (int c = 0; c < static_cast<int>(classes.size()); ++c)
      if (!present.count(c) && c >= 3) CHECK_MESSAGE(!mentions(s.caption, classes[c]), s.caption);
    for (int c : present) {
      if (!classes[c].thing) stuff_named += mentions(s.caption, classes[c]);
      else things_seen++, thing_named += mentions(s.caption, classes[c]);
    }
  }
  for (size_t c = 0; c < classes.size(); ++c) CHECK_MESSAGE(pixels[c] > 0, classes[c].name);
  CHECK(stuff_named > 100);
  CHECK(thing_named > things_seen * 3 / 4);  // hidden (occluded) things are left out
}

TEST_CASE("write_world_split: the harness reads it as the 'folder' (alias 'world') data set") {
  TempDir tmp;
  const std::string root = tmp.file("world");
  world::SceneOptions o;
  o.width = 48;
  o.height = 32;
  world::write_world_split(root, "val", 5, 11, o);
  const auto ds = harness::make_dataset("world", root, "val");
  CHECK(ds->name() == "folder");
  CHECK(ds->size() == 5);
  CHECK(ds->num_classes() == world::world_class_count());
  CHECK(ds->display_class_names()[3] == "circle");
  CHECK(harness::dataset_num_classes("folder") == 0);
  for (size_t i = 0; i < ds->size(); ++i) {
    const harness::Sample s = ds->sample(i, true);
    const world::Scene want = world::render_scene(world::scene_seed(11, "val", i), o);
    cv::Mat label8;
    s.label.convertTo(label8, CV_8U);
    CHECK(same_mat(label8, want.label));
    CHECK(same_mat(s.image, want.image));  // PNG: lossless
  }
  const std::string captions = eval_test::read_file(root + "/val/captions.tsv");
  CHECK(captions.find("00000\t" + world::render_scene(world::scene_seed(11, "val", 0), o).caption + "\n") == 0);
  CHECK(eval_test::read_file(root + "/class_names.txt") == world::world_class_names_text());
  CHECK(eval_test::read_file(root + "/val/world.json").find("\"seed\": 11") != std::string::npos);
}

TEST_CASE("the folder data set names what is missing") {
  TempDir tmp;
  const std::string root = tmp.file("w");
  world::write_world_split(root, "val", 2, 0, {});
  std::filesystem::remove(root + "/class_names.txt");
  CHECK_THROWS_WITH_AS(harness::make_dataset("folder", root, "val"),
                       doctest::Contains("class_names.txt"), std::runtime_error);
  CHECK_THROWS_WITH_AS(world::write_world_split(root, "val", 0, 0, {}), doctest::Contains("count"),
                       std::invalid_argument);
}
