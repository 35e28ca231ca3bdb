// The procedural world (v2, the default): determinism, ground truth
// consistent with captions, exact instance and part maps, the default
// zero-shot split, and splits written in the "folder" layout the harness reads.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <set>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "../eval/eval_test_util.hpp"
#include "ovseg/harness/dataset.hpp"
#include "ovseg/world/world.hpp"
#include "world_test_util.hpp"

using namespace ovseg;
using eval_test::TempDir;
using world_test::same_mat;

namespace {

// Whether the caption names the class (a synonym as whole words, singular or
// plural), so "balloon" does not count as naming the ball.
bool mentions(const std::string& caption, const world::WorldClass& c) {
  std::string words = " ";
  for (const char ch : caption) words += std::isalpha(static_cast<unsigned char>(ch)) ? ch : ' ';
  words += " ";
  return std::any_of(c.synonyms.begin(), c.synonyms.end(), [&](const std::string& s) {
    for (const char* ending : {" ", "s ", "es "})
      if (words.find(" " + s + ending) != std::string::npos) return true;
    return false;
  });
}

int class_id(const std::string& name) {
  const auto& cl = world::world_classes();
  for (size_t i = 0; i < cl.size(); ++i)
    if (cl[i].name == name) return static_cast<int>(i);
  return -1;
}

world::Scene scene(uint64_t i, int side = 64) {
  world::SceneOptions o;
  o.width = o.height = side;
  return world::render_scene(world::scene_seed(1, "test", i), o);
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
  CHECK(same_mat(a.instances, b.instances));
  CHECK(same_mat(a.parts, b.parts));
  CHECK(a.caption == b.caption);
  const world::Scene c = world::render_scene(world::scene_seed(7, "train", 4));
  CHECK_FALSE(same_mat(a.image, c.image));
  CHECK_THROWS_WITH_AS(world::render_scene(seed, {64, 64, 3}), doctest::Contains("world version 3"),
                       std::invalid_argument);
}

TEST_CASE("world v2 is pinned: a change of its pixels, masks or captions must bump kWorldGeneratorVersion") {
  // The shipped world CLIP and the README's demo table were made from these
  // scenes; if this fails on purpose, bump the generator version, retrain
  // the CLIP (host/models/embedded/README.md) and record the new digest.
  CHECK(world::kWorldGeneratorVersion == 7);
  CHECK(world_test::digest(2) == "39b6d934821e09d1");
}

TEST_CASE("world v2 classes: 6+ stuff, 20+ things with synonyms, parts name their whole") {
  const auto& classes = world::world_classes();
  int stuff = 0, things = 0, parts = 0;
  std::set<std::string> names;
  for (const auto& c : classes) {
    CHECK(names.insert(c.name).second);
    CHECK(c.name == c.synonyms.front());
    (c.thing ? things : stuff)++;
    if (!c.part_of.empty()) {
      ++parts;
      const int whole = class_id(c.part_of);
      REQUIRE(whole >= 0);
      CHECK(classes[whole].thing);
      CHECK(classes[whole].part_of.empty());
      CHECK(c.thing);
    }
  }
  CHECK(stuff >= 6);
  CHECK(things >= 20);
  CHECK(parts >= 3);
  CHECK(world::world_class_count() == static_cast<int>(classes.size()));
  CHECK(world::world_class_count(1) == 8);
}

TEST_CASE("scenes: every class occurs, labels are in range, captions name what is there") {
  const auto& classes = world::world_classes();
  const int k = static_cast<int>(classes.size());
  std::vector<long> pixels(classes.size(), 0);
  std::vector<int> named(classes.size(), 0), seen(classes.size(), 0);
  int stuff_named = 0;
  for (uint64_t i = 0; i < 400; ++i) {
    const world::Scene s = scene(i, (i % 2) ? 64 : 96);
    REQUIRE(s.image.type() == CV_8UC3);
    REQUIRE(s.label.type() == CV_8UC1);
    REQUIRE(s.image.size() == s.label.size());
    double mx = 0;
    cv::minMaxLoc(s.label, nullptr, &mx);
    REQUIRE(mx < k);
    CHECK_FALSE(s.caption.empty());
    for (int c = 0; c < k; ++c) {
      const int n = cv::countNonZero(s.label == c);
      pixels[c] += n;
      const bool said = mentions(s.caption, classes[c]);
      // No caption names an object or part that is absent from the ground truth.
      if (classes[c].thing && n == 0) CHECK_MESSAGE(!said, s.caption);
      if (n > 0) seen[c]++, named[c] += said;
      if (n > 0 && !classes[c].thing) stuff_named += said;
    }
  }
  for (int c = 0; c < k; ++c) {
    CHECK_MESSAGE(pixels[c] > 0, classes[c].name);
    // Every class, the unseen ones included, is named in captions: the CLIP
    // learns all names; only segmentation training hides the unseen classes.
    CHECK_MESSAGE(named[c] >= 5, classes[c].name);
    // Whole objects are named whenever they are recognisable (most of the
    // time); parts now and then.
    if (classes[c].thing && classes[c].part_of.empty()) CHECK_MESSAGE(named[c] * 2 > seen[c], classes[c].name);
  }
  CHECK(stuff_named > 100);
}

TEST_CASE("instance and part maps: exact, consistent with the classes, parts inside their wholes") {
  const auto& classes = world::world_classes();
  int max_instances = 0, scenes_with_parts = 0;
  for (uint64_t i = 0; i < 300; ++i) {
    const world::Scene s = scene(i, (i % 3) ? 64 : 128);
    REQUIRE(s.instances.type() == CV_16UC1);
    REQUIRE(s.parts.type() == CV_16UC1);
    REQUIRE(s.instances.size() == s.label.size());
    std::map<int, std::set<int>> labels_of_instance, instances_of_part, labels_of_part;
    for (int y = 0; y < s.label.rows; ++y)
      for (int x = 0; x < s.label.cols; ++x) {
        const int c = s.label.at<uchar>(y, x), id = s.instances.at<uint16_t>(y, x), part = s.parts.at<uint16_t>(y, x);
        // Every thing pixel belongs to an object; stuff pixels to none.
        REQUIRE_MESSAGE(classes[c].thing == (id > 0), "scene " << i << " (" << x << ", " << y << ")");
        // Part ids exactly on part classes.
        REQUIRE_MESSAGE(!classes[c].part_of.empty() == (part > 0), "scene " << i << " (" << x << ", " << y << ")");
        if (id) labels_of_instance[id].insert(c);
        if (part) instances_of_part[part].insert(id), labels_of_part[part].insert(c);
      }
    // Ids are 1..n without gaps.
    int n = static_cast<int>(labels_of_instance.size());
    CHECK((n == 0 || labels_of_instance.rbegin()->first == n));
    CHECK(
        (instances_of_part.empty() || instances_of_part.rbegin()->first == static_cast<int>(instances_of_part.size())));
    max_instances = std::max(max_instances, n);
    scenes_with_parts += !instances_of_part.empty();
    // An object shows one object class plus parts of that class only. (Had a
    // later object not taken over the instance ids under it, as it takes the
    // labels, an instance would show two objects' classes here.)
    for (const auto& [id, labels] : labels_of_instance) {
      std::set<std::string> wholes;
      for (const int c : labels) wholes.insert(classes[c].part_of.empty() ? classes[c].name : classes[c].part_of);
      CHECK_MESSAGE(wholes.size() == 1, "scene " << i << " instance " << id);
    }
    // A part lies inside one object and has one class.
    for (const auto& [part, ids] : instances_of_part) {
      CHECK_MESSAGE(ids.size() == 1, "scene " << i << " part " << part);
      CHECK(labels_of_part[part].size() == 1);
    }
  }
  CHECK(max_instances >= 5);  // 128 px scenes hold many objects
  CHECK(scenes_with_parts > 30);
}

TEST_CASE("the default zero-shot split: about a quarter of the classes, stuff and things, all named in captions") {
  const auto unseen = world::default_unseen_classes();
  const int k = world::world_class_count();
  CHECK(unseen.size() * 100 >= static_cast<size_t>(k) * 20);
  CHECK(unseen.size() * 100 <= static_cast<size_t>(k) * 30);
  int stuff = 0, things = 0;
  std::set<std::string> distinct;
  for (const auto& name : unseen) {
    const int c = class_id(name);
    REQUIRE_MESSAGE(c >= 0, name);
    (world::world_classes()[c].thing ? things : stuff)++;
    distinct.insert(name);
  }
  CHECK(distinct.size() == unseen.size());
  CHECK(stuff >= 1);
  CHECK(things >= 4);
  CHECK(world::default_unseen_classes(1).empty());
  // The file: comment lines, then the names.
  std::vector<std::string> listed;
  std::istringstream text(world::unseen_classes_text());
  for (std::string line; std::getline(text, line);)
    if (!line.empty() && line[0] != '#') listed.push_back(line);
  CHECK(listed == unseen);
}

TEST_CASE("write_world_split: the harness reads it as the 'folder' (alias 'world') data set, instances included") {
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
  CHECK(ds->display_class_names()[6] == "house");
  CHECK(harness::dataset_num_classes("folder") == 0);
  for (size_t i = 0; i < ds->size(); ++i) {
    const harness::Sample s = ds->sample(i, true);
    const world::Scene want = world::render_scene(world::scene_seed(11, "val", i), o);
    cv::Mat label8, ids16;
    s.label.convertTo(label8, CV_8U);
    CHECK(same_mat(label8, want.label));
    CHECK(same_mat(s.image, want.image));  // PNG: lossless
    REQUIRE(s.instances.type() == CV_32SC1);
    s.instances.convertTo(ids16, CV_16U);
    CHECK(same_mat(ids16, want.instances));
    const cv::Mat parts = cv::imread(root + "/val/parts/" + s.id + ".png", cv::IMREAD_UNCHANGED);
    CHECK(same_mat(parts, want.parts));  // 16-bit PNG
  }
  const std::string captions = eval_test::read_file(root + "/val/captions.tsv");
  CHECK(captions.find("00000\t" + world::render_scene(world::scene_seed(11, "val", 0), o).caption + "\n") == 0);
  CHECK(eval_test::read_file(root + "/class_names.txt") == world::world_class_names_text());
  CHECK(eval_test::read_file(root + "/unseen_classes.txt") == world::unseen_classes_text());
  const std::string meta = eval_test::read_file(root + "/val/world.json");
  CHECK(meta.find("\"seed\": 11") != std::string::npos);
  CHECK(meta.find("\"world_version\": 2") != std::string::npos);
  CHECK(world::world_split_is_current(root, "val", 5, 11, o));
  o.version = 1;
  CHECK_FALSE(world::world_split_is_current(root, "val", 5, 11, o));

  // Without an instance folder the samples carry no instances; a wrong-sized
  // instance file is named.
  std::filesystem::remove_all(root + "/val/instances");
  CHECK(ds->sample(0).instances.empty());
  std::filesystem::create_directories(root + "/val/instances");
  cv::imwrite(root + "/val/instances/00001.png", cv::Mat(8, 8, CV_16UC1, cv::Scalar(1)));
  CHECK_THROWS_WITH_AS(ds->sample(1), doctest::Contains("instances/00001.png"), std::runtime_error);
}

TEST_CASE("world v1 splits: v1's classes, instances, no parts or zero-shot file; one version per data root") {
  TempDir tmp;
  const std::string root = tmp.file("w1");
  world::SceneOptions v1;
  v1.version = 1;
  world::write_world_split(root, "val", 3, 2026, {});  // v2 first: its files must not linger
  world::write_world_split(root, "val", 3, 2026, v1);
  CHECK(eval_test::read_file(root + "/class_names.txt") == world::world_class_names_text(1));
  CHECK_FALSE(std::filesystem::exists(root + "/unseen_classes.txt"));
  CHECK_FALSE(std::filesystem::exists(root + "/val/parts"));
  const auto ds = harness::make_dataset("folder", root, "val");
  CHECK(ds->display_class_names()[3] == "circle");
  for (size_t i = 0; i < ds->size(); ++i) {
    const harness::Sample s = ds->sample(i);
    for (int y = 0; y < s.label.rows; ++y)
      for (int x = 0; x < s.label.cols; ++x)
        REQUIRE((s.label.at<int32_t>(y, x) >= 3) == (s.instances.at<int32_t>(y, x) > 0));
  }
  CHECK_THROWS_WITH_AS(world::write_world_split(root, "train", 2, 0, {}),
                       doctest::Contains((root + "/val/world.json").c_str()), std::runtime_error);
}

TEST_CASE("the folder data set names what is missing") {
  TempDir tmp;
  const std::string root = tmp.file("w");
  world::write_world_split(root, "val", 2, 0, {});
  std::filesystem::remove(root + "/class_names.txt");
  CHECK_THROWS_WITH_AS(harness::make_dataset("folder", root, "val"), doctest::Contains("class_names.txt"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(world::write_world_split(root, "val", 0, 0, {}), doctest::Contains("count"),
                       std::invalid_argument);
}
