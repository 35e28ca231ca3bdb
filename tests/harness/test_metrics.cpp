#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "ovseg/harness/confusion_matrix.hpp"
#include "ovseg/harness/metrics.hpp"

using namespace ovseg::harness;

namespace {
ConfusionMatrix from_rows(const std::vector<std::vector<std::int64_t>>& rows) {
  ConfusionMatrix cm(static_cast<int>(rows.size()));
  for (std::size_t i = 0; i < rows.size(); ++i)
    for (std::size_t j = 0; j < rows.size(); ++j) cm.at(int(i), int(j)) = rows[i][j];
  return cm;
}
}  // namespace

TEST_CASE("metrics on a hand-made confusion matrix") {
  // rows = gt, cols = pred. gt counts 6,6,0,0; pred counts 7,4,1,0; TP 5,3,0,0.
  const auto cm = from_rows({{5, 1, 0, 0}, {2, 3, 1, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}});
  const auto m = compute_metrics(cm);
  CHECK(m.iou[0] == doctest::Approx(100.0 * 5 / 8));
  CHECK(m.iou[1] == doctest::Approx(100.0 * 3 / 7));
  CHECK(m.iou[2] == doctest::Approx(0.0));  // predicted only: union 1, IoU 0 (counts)
  CHECK(std::isnan(m.iou[3]));              // absent from gt and pred: NaN, excluded
  CHECK(m.num_valid_classes == 3);
  CHECK(m.miou == doctest::Approx((62.5 + 300.0 / 7 + 0.0) / 3));
  CHECK(m.accuracy[0] == doctest::Approx(100.0 * 5 / 6));
  CHECK(m.accuracy[1] == doctest::Approx(50.0));
  CHECK(std::isnan(m.accuracy[2]));
  CHECK(std::isnan(m.accuracy[3]));
  CHECK(m.macc == doctest::Approx((500.0 / 6 + 50.0) / 2));
  CHECK(m.aacc == doctest::Approx(100.0 * 8 / 12));
  CHECK(m.fwiou == doctest::Approx(0.5 * 62.5 + 0.5 * 300.0 / 7));
  CHECK(m.gt_pixels == std::vector<std::int64_t>{6, 6, 0, 0});
  CHECK(m.pred_pixels == std::vector<std::int64_t>{7, 4, 1, 0});

  const auto j = metrics_to_json(m, {"a", "b", "c", "d"});
  CHECK(j["per_class"][3]["iou"].is_null());
  CHECK(j["per_class"][0]["name"] == "a");
  CHECK(j["mIoU"].get<double>() == doctest::Approx(m.miou));
  CHECK_THROWS_AS(metrics_to_json(m, {"only one"}), std::invalid_argument);
}

TEST_CASE("a second hand-made matrix: 2 classes") {
  // gt0: 8 right, 2 wrong; gt1: 1 wrong, 4 right.
  const auto m = compute_metrics(from_rows({{8, 2}, {1, 4}}));
  CHECK(m.iou[0] == doctest::Approx(100.0 * 8 / 11));
  CHECK(m.iou[1] == doctest::Approx(100.0 * 4 / 7));
  CHECK(m.miou == doctest::Approx((800.0 / 11 + 400.0 / 7) / 2));
  CHECK(m.aacc == doctest::Approx(100.0 * 12 / 15));
  CHECK(m.macc == doctest::Approx((80.0 + 80.0) / 2));
  CHECK(m.fwiou == doctest::Approx(10.0 / 15 * 800.0 / 11 + 5.0 / 15 * 400.0 / 7));
}

TEST_CASE("empty matrix gives NaN, perfect prediction gives 100") {
  const auto e = compute_metrics(ConfusionMatrix(3));
  CHECK(std::isnan(e.miou));
  CHECK(std::isnan(e.aacc));
  CHECK(std::isnan(e.fwiou));

  cv::Mat gt(37, 53, CV_8UC1);
  cv::randu(gt, 0, 5);
  gt(cv::Rect(0, 0, 10, 10)).setTo(255);
  ConfusionMatrix cm(5);
  cm.add(gt, gt);
  const auto m = compute_metrics(cm);
  CHECK(m.miou == doctest::Approx(100.0));
  CHECK(m.macc == doctest::Approx(100.0));
  CHECK(m.aacc == doctest::Approx(100.0));
  CHECK(m.fwiou == doctest::Approx(100.0));
  CHECK(cm.total() == 37 * 53 - 100);
}

TEST_CASE("confusion matrix counting, ignore index, types and errors") {
  cv::Mat gt = (cv::Mat_<std::uint8_t>(2, 3) << 0, 1, 255, 2, 2, 1);
  cv::Mat pred = (cv::Mat_<std::int32_t>(2, 3) << 0, 2, 7, 2, 1, 1);  // 7 under ignore: skipped
  ConfusionMatrix cm(3);
  cm.add(gt, pred);
  CHECK(cm.total() == 5);
  CHECK(cm.at(0, 0) == 1);
  CHECK(cm.at(1, 2) == 1);
  CHECK(cm.at(2, 2) == 1);
  CHECK(cm.at(2, 1) == 1);
  CHECK(cm.at(1, 1) == 1);

  // Out-of-range values throw and leave the matrix unchanged.
  const ConfusionMatrix before = cm;
  cv::Mat bad_pred = pred.clone();
  bad_pred.at<std::int32_t>(1, 2) = 3;
  CHECK_THROWS_WITH_AS(cm.add(gt, bad_pred), doctest::Contains("predicted label 3"), std::out_of_range);
  cv::Mat bad_gt = gt.clone();
  bad_gt.at<std::uint8_t>(0, 0) = 9;
  CHECK_THROWS_WITH_AS(cm.add(bad_gt, pred), doctest::Contains("ground-truth label 9"), std::out_of_range);
  CHECK(cm == before);
  CHECK_THROWS_AS(cm.add(gt, cv::Mat::zeros(3, 2, CV_8U)), std::invalid_argument);
  CHECK_THROWS_AS(cm.add(gt, cv::Mat::zeros(2, 3, CV_32F)), std::invalid_argument);

  // Raw arrays, 16-bit.
  const std::int32_t g[] = {0, 1, 1, 255};
  const std::int32_t p[] = {0, 1, 0, 0};
  ConfusionMatrix r(2);
  r.add(g, p, 4);
  CHECK(r.at(0, 0) == 1);
  CHECK(r.at(1, 1) == 1);
  CHECK(r.at(1, 0) == 1);
  cv::Mat g16 = (cv::Mat_<std::uint16_t>(1, 2) << 1, 0);
  r.add(g16, g16);
  CHECK(r.total() == 5);
}

TEST_CASE("confusion matrices are exactly additive and JSON round-trips") {
  std::mt19937 rng(7);
  const int k = 6;
  cv::Mat gt(120, 97, CV_32SC1), pred(120, 97, CV_32SC1);
  std::uniform_int_distribution<int> d(0, k - 1), v(0, 9);
  for (int y = 0; y < gt.rows; ++y)
    for (int x = 0; x < gt.cols; ++x) {
      gt.at<int>(y, x) = v(rng) == 0 ? 255 : d(rng);
      pred.at<int>(y, x) = d(rng);
    }
  ConfusionMatrix whole(k), top(k), bottom(k);
  whole.add(gt, pred);
  top.add(gt.rowRange(0, 50), pred.rowRange(0, 50));  // strided views
  bottom.add(gt.rowRange(50, 120), pred.rowRange(50, 120));
  ConfusionMatrix merged(k);
  merged.merge(top);
  merged += bottom;
  CHECK(merged == whole);
  ConfusionMatrix empty;
  empty.merge(whole);
  CHECK(empty == whole);
  CHECK_THROWS_AS(whole.merge(ConfusionMatrix(k + 1)), std::invalid_argument);

  const auto text = whole.to_json_string();
  const auto back = ConfusionMatrix::from_json_string(text);
  CHECK(back == whole);
  CHECK(whole.to_json()["rows"].size() == static_cast<std::size_t>(k));

  // Large counts survive exactly.
  ConfusionMatrix big(2);
  big.at(0, 1) = 9007199254740993LL;  // 2^53 + 1: not representable as a double
  CHECK(ConfusionMatrix::from_json_string(big.to_json_string()).at(0, 1) == 9007199254740993LL);

  CHECK_THROWS_AS(ConfusionMatrix::from_json_string("{\"num_classes\":2,\"rows\":[[1,2]]}"), std::invalid_argument);
  CHECK_THROWS_AS(ConfusionMatrix::from_json_string("{\"num_classes\":1,\"rows\":[[-1]]}"), std::invalid_argument);
  CHECK_THROWS_AS(ConfusionMatrix::from_json_string("not json"), std::invalid_argument);
}
