// Zero-shot evaluation: mIoU over seen and unseen classes and their harmonic
// mean, the splits data sets declare, and the errors for a bad split.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <unistd.h>

#include "ovseg/harness/dataset.hpp"
#include "ovseg/harness/zero_shot.hpp"

using namespace ovseg::harness;
namespace fs = std::filesystem;

namespace {

const std::string kShared = OVSEG_SHARED_DATA;

SegmentationMetrics with_iou(std::vector<double> iou) {
  SegmentationMetrics m;
  m.iou = std::move(iou);
  return m;
}

}  // namespace

TEST_CASE("zero-shot metrics: nan-means over seen and unseen classes, hIoU their harmonic mean") {
  const double nan = std::nan("");
  const auto z = zero_shot_metrics(with_iou({80, 60, nan, 30, 10}), {false, false, false, true, true});
  CHECK(z.seen_classes == 3);
  CHECK(z.unseen_classes == 2);
  CHECK(z.seen_miou == doctest::Approx(70));  // class 2 absent: not counted
  CHECK(z.unseen_miou == doctest::Approx(20));
  CHECK(z.hiou == doctest::Approx(2 * 70 * 20 / 90.0));
  CHECK(zero_shot_metrics(with_iou({50, 0}), {false, true}).hiou == 0.0);
  CHECK(std::isnan(zero_shot_metrics(with_iou({50, nan}), {false, true}).hiou));
  CHECK_THROWS_WITH(zero_shot_metrics(with_iou({1, 2}), {true}), doctest::Contains("1 flags for 2 classes"));
  const auto j = zero_shot_to_json({{"b"}, "test"}, zero_shot_metrics(with_iou({50, nan}), {false, true}));
  CHECK(j["hIoU"].is_null());
  CHECK(j["mIoU_seen"] == 50.0);
}

TEST_CASE("declared splits: the literature's VOC and COCO-Stuff splits; a folder's unseen_classes.txt") {
  const auto voc = make_dataset("voc20", kShared + "/voc2012-val-gt");
  const ZeroShotSplit split = declared_zero_shot_split(*voc);
  CHECK(split.unseen.size() == 5);
  const auto mask = unseen_mask(split, voc->display_class_names());
  CHECK(std::count(mask.begin(), mask.end(), true) == 5);
  CHECK(mask[15]);  // pottedplant ... tv monitor: the last five of VOC20
  CHECK(mask[19]);
  CHECK_FALSE(mask[14]);
  // VOC21 keeps the background class among the seen ones.
  const auto voc21 = make_dataset("voc21", kShared + "/voc2012-val-gt");
  CHECK(unseen_mask(declared_zero_shot_split(*voc21), voc21->display_class_names())[20]);
  // COCO-Stuff's 15 names are all classes of the built-in list.
  const auto stuff_names = display_names(builtin_class_names("coco_stuff"));
  const ZeroShotSplit coco{{"frisbee", "skateboard", "cardboard", "carrot", "scissors", "suitcase", "giraffe", "cow",
                            "road", "wall-concrete", "tree", "grass", "river", "clouds", "playingfield"},
                           "x"};
  const auto cmask = unseen_mask(coco, stuff_names);
  CHECK(std::count(cmask.begin(), cmask.end(), true) == 15);

  // A folder declares its split in ROOT/unseen_classes.txt.
  const fs::path root = fs::temp_directory_path() / ("ovseg_zs_" + std::to_string(::getpid()));
  fs::create_directories(root / "val" / "labels");
  std::ofstream(root / "class_names.txt") << "grass, lawn\nwater\nsand\n";
  cv::Mat label(4, 4, CV_8UC1, cv::Scalar(0));
  REQUIRE(cv::imwrite((root / "val" / "labels" / "a.png").string(), label));
  const auto folder = make_dataset("folder", root.string(), "val");
  CHECK(declared_zero_shot_split(*folder).empty());
  std::ofstream(root / "unseen_classes.txt") << "# unseen while training\nwater\n\n";
  const ZeroShotSplit fs_split = declared_zero_shot_split(*folder);
  CHECK(fs_split.unseen == std::vector<std::string>{"water"});
  CHECK(fs_split.source == (root / "unseen_classes.txt").string());
  fs::remove_all(root);
}

TEST_CASE("splits: --unseen arguments; unknown classes and all-unseen splits are errors") {
  CHECK(parse_unseen_argument("none").empty());
  CHECK(parse_unseen_argument("cow, sheep").unseen == std::vector<std::string>{"cow", "sheep"});
  const std::vector<std::string> classes = {"grass", "water", "sand"};
  CHECK_THROWS_WITH(unseen_mask({{"watr"}, "--unseen watr"}, classes),
                    doctest::Contains(
                        "unseen class 'watr' (--unseen watr) is not a class of the data set (near: water)"));
  CHECK_THROWS_WITH(unseen_mask({classes, "x"}, classes), doctest::Contains("leaves no seen class"));
  CHECK_THROWS_WITH(read_unseen_file("/nonexistent/unseen.txt"), doctest::Contains("/nonexistent/unseen.txt"));
}
