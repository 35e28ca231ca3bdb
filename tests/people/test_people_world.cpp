#include <doctest/doctest.h>

#include <filesystem>
#include <set>

#include <opencv2/core.hpp>

#include "ovseg/harness/dataset.hpp"
#include "ovseg/world/people.hpp"
#include "ovseg/world/world.hpp"

namespace fs = std::filesystem;
using namespace ovseg::world;

namespace {

bool same(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0;
}

cv::Mat grey(int side) { return cv::Mat(side, side, CV_8UC3, cv::Scalar(128, 128, 128)); }

// A figure with both arms held straight out and legs apart, centred.
PersonSpec spread(Facing facing, double cx, double side) {
  PersonSpec p;
  p.cx = cx;
  p.feet_y = 0.95 * side;
  p.height = 0.85 * side;
  p.facing = facing;
  p.left_shoulder = p.right_shoulder = 80;
  p.left_hip = p.right_hip = 12;
  p.sleeves = Sleeves::None;
  p.lower = Lower::Shorts;
  return p;
}

// Mean x of the pixels with LIP label `cls`.
double mean_x(const cv::Mat& lip, int cls) {
  double sum = 0;
  int n = 0;
  for (int y = 0; y < lip.rows; ++y)
    for (int x = 0; x < lip.cols; ++x)
      if (lip.at<uchar>(y, x) == cls) sum += x, ++n;
  REQUIRE(n > 0);
  return sum / n;
}

}  // namespace

TEST_CASE("people scenes are a function of the seed") {
  const PeopleScene a = render_people_scene(42, 96, 96), b = render_people_scene(42, 96, 96);
  CHECK(same(a.image, b.image));
  CHECK(same(a.surface, b.surface));
  CHECK(same(a.segment, b.segment));
  CHECK(same(a.person, b.person));
  CHECK(a.caption == b.caption);
  const PeopleScene c = render_people_scene(43, 96, 96);
  CHECK_FALSE(same(a.image, c.image));
  CHECK(a.caption.find("person") != std::string::npos);
}

TEST_CASE("labels are in range and the three label sets agree on what is person") {
  std::set<int> lip_seen, ppp_seen;
  for (uint64_t seed = 0; seed < 12; ++seed) {
    const PeopleScene sc = render_people_scene(seed, 96, 96);
    const cv::Mat lip = people_lip_labels(sc), ppp = people_ppp_labels(sc);
    for (int y = 0; y < lip.rows; ++y)
      for (int x = 0; x < lip.cols; ++x) {
        const int l = lip.at<uchar>(y, x), p = ppp.at<uchar>(y, x);
        REQUIRE(l < 20);
        REQUIRE(p < 7);
        CHECK((l == 0) == (p == 0));
        CHECK((l == 0) == (sc.person.at<uchar>(y, x) == 0));
        // Hat, hair, sunglasses and face are all head in PASCAL-Person-Part.
        if (l == 1 || l == 2 || l == 4 || l == 13) CHECK(p == 1);
        lip_seen.insert(l);
        ppp_seen.insert(p);
      }
  }
  CHECK(ppp_seen.size() == 7);  // every PASCAL-Person-Part class occurs
  for (const int cls : {0, 2, 5, 9, 13, 14, 15, 16, 17, 18, 19}) CHECK(lip_seen.count(cls) == 1);
}

TEST_CASE("left and right are the figure's own sides (LIP convention)") {
  const int side = 128;
  const double cx = side / 2.0;
  SUBCASE("facing the camera: its left arm, leg and shoe on the image's right") {
    const cv::Mat lip = people_lip_labels(draw_people(grey(side), {spread(Facing::Front, cx, side)}, 1));
    CHECK(mean_x(lip, 14) > cx);  // left arm
    CHECK(mean_x(lip, 15) < cx);  // right arm
    CHECK(mean_x(lip, 16) > cx);  // left leg
    CHECK(mean_x(lip, 18) > cx);  // left shoe
    CHECK(mean_x(lip, 19) < cx);
  }
  SUBCASE("turned away: its left on the image's left") {
    const PeopleScene sc = draw_people(grey(side), {spread(Facing::Back, cx, side)}, 1);
    const cv::Mat lip = people_lip_labels(sc);
    CHECK(mean_x(lip, 14) < cx);
    CHECK(mean_x(lip, 15) > cx);
    CHECK(mean_x(lip, 17) > cx);
    // From behind the head is mostly hair.
    CHECK(cv::countNonZero(lip == 2) > cv::countNonZero(lip == 13));
  }
}

TEST_CASE("later figures occlude earlier ones") {
  const int side = 128;
  const PersonSpec back = spread(Facing::Front, 54, side), front = spread(Facing::Front, 74, side);
  const PeopleScene alone = draw_people(grey(side), {back}, 3);
  const PeopleScene both = draw_people(grey(side), {back, front}, 3);
  const int back_alone = cv::countNonZero(alone.person == 1), back_both = cv::countNonZero(both.person == 1);
  CHECK(back_both > 0);
  CHECK(back_both < back_alone);  // partly hidden
  // Every pixel the front figure covers shows the front figure, and its
  // labels: draw it alone and compare where it is.
  const PeopleScene front_alone = draw_people(grey(side), {front}, 3);
  const cv::Mat front_mask = front_alone.person > 0;
  CHECK(cv::countNonZero(both.person == 2) == cv::countNonZero(front_mask));
  cv::Mat diff;
  cv::compare(both.surface, front_alone.surface, diff, cv::CMP_NE);
  CHECK(cv::countNonZero(diff & front_mask) == 0);
}

TEST_CASE("the LIP, CIHP and PASCAL-Person-Part adapters read the written people world") {
  const fs::path root = fs::temp_directory_path() / "ovseg_people_world_test";
  fs::remove_all(root);
  write_people_split(root.string(), "train", 2, 7, 64, 64);
  write_people_split(root.string(), "val", 3, 7, 80, 80);
  using ovseg::harness::make_dataset;
  for (const std::string split : {"train", "val"}) {
    const size_t n = split == "train" ? 2 : 3;
    const auto lip = make_dataset("lip", (root / "lip").string(), split);
    const auto cihp = make_dataset("cihp", (root / "cihp").string(), split);
    const auto ppp = make_dataset("pascal_person_part", (root / "pascal_person_part").string(), split);
    REQUIRE(lip->size() == n);
    REQUIRE(cihp->size() == n);
    REQUIRE(ppp->size() == n);
    CHECK(lip->num_classes() == 20);
    CHECK(ppp->num_classes() == 7);
    for (size_t i = 0; i < n; ++i) {
      const PeopleScene sc = render_people_scene(scene_seed(7, "people/" + split, i), split == "train" ? 64 : 80,
                                                 split == "train" ? 64 : 80);
      const auto s = lip->sample(i, true);
      CHECK(s.id == split + "_0000" + std::to_string(i));
      cv::Mat want;
      people_lip_labels(sc).convertTo(want, CV_32S);
      CHECK(same(s.label, want));
      CHECK(same(cihp->sample(i).label, want));
      people_ppp_labels(sc).convertTo(want, CV_32S);
      CHECK(same(ppp->sample(i, true).label, want));
      CHECK(s.image.size() == s.label.size());
    }
  }
  CHECK(fs::exists(root / "val_captions.tsv"));
  CHECK(fs::exists(root / "cihp/instance-level_human_parsing/Validation/Human_ids/val_00000.png"));
  fs::remove_all(root);
}
