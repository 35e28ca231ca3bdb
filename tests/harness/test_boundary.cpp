// The boundary metric (trimap IoU, ovseg/harness/boundary.hpp).
#include <doctest/doctest.h>

#include <opencv2/core.hpp>

#include "ovseg/harness/boundary.hpp"
#include "ovseg/harness/metrics.hpp"

using namespace ovseg::harness;

TEST_CASE("boundary radius: 2% of the diagonal, at least 1 px") {
  CHECK(boundary_radius(128, 128) == 4);
  CHECK(boundary_radius(336, 500) == 12);
  CHECK(boundary_radius(1, 1) == 1);
  CHECK(boundary_radius(100, 100, 0.1) == 14);
}

TEST_CASE("the band: both sides of every label change, dilated by the radius") {
  cv::Mat gt(10, 12, CV_32S, cv::Scalar(0));
  gt.colRange(6, 12).setTo(1);
  const cv::Mat edge = boundary_band(gt, 0);
  CHECK(cv::countNonZero(edge) == 20);  // columns 5 and 6
  CHECK(edge.at<uint8_t>(3, 5) == 1);
  CHECK(edge.at<uint8_t>(3, 6) == 1);
  const cv::Mat band = boundary_band(gt, 2);
  CHECK(cv::countNonZero(band) == 10 * 6);  // columns 3..8
  CHECK(band.at<uint8_t>(0, 3) == 1);
  CHECK(band.at<uint8_t>(0, 2) == 0);
  CHECK(band.at<uint8_t>(9, 8) == 1);
  CHECK(band.at<uint8_t>(9, 9) == 0);
  // No change, no band.
  CHECK(cv::countNonZero(boundary_band(cv::Mat(5, 5, CV_8U, cv::Scalar(3)), 3)) == 0);
  // Void edges count as edges.
  cv::Mat v(6, 6, CV_8U, cv::Scalar(2));
  v.at<uint8_t>(3, 3) = 255;
  CHECK(cv::countNonZero(boundary_band(v, 0)) == 5);
}

TEST_CASE("add_boundary counts the band's pixels only; void stays void") {
  // 50 x 50 (radius 1): left half class 0, right half class 1; the
  // prediction puts the edge 3 columns too far right.
  cv::Mat gt(50, 50, CV_32S, cv::Scalar(0)), pred(50, 50, CV_32S, cv::Scalar(0));
  gt.colRange(25, 50).setTo(1);
  pred.colRange(28, 50).setTo(1);
  gt.at<int32_t>(0, 24) = 255;  // void: skipped, and an edge of its own
  ConfusionMatrix whole(2), band(2);
  whole.add(gt, pred, 255);
  add_boundary(band, gt, pred, 255);
  CHECK(boundary_radius(50, 50) == 1);
  // Band: columns 23..26 on every row (edge 24|25 dilated by 1), plus the
  // void pixel's own neighbourhood; void never counts.
  CHECK(band.at(0, 0) == 49 * 2 + 2);  // columns 23, 24 (row 0: 23 and the void's left neighbour 22)
  CHECK(band.at(1, 0) == 50 * 2);      // columns 25, 26 predicted 0
  CHECK(band.at(1, 1) == 0);
  CHECK(band.at(0, 1) == 0);
  // Far from the edge the error does not count: whole-image IoU of class 1
  // is much higher than in the band.
  CHECK(compute_metrics(whole).iou[1] > 80);
  CHECK(compute_metrics(band).iou[1] == doctest::Approx(0.0));
  // No ignore index: a value no class has is used to skip outside the band.
  ConfusionMatrix no_ignore(2);
  cv::Mat g2 = gt.clone();
  g2.at<int32_t>(0, 24) = 0;
  add_boundary(no_ignore, g2, pred, -1);
  CHECK(no_ignore.total() == 50 * 4);
}
