// Training augmentation: a pure function of its seed, crops of the asked size,
// image and label moved together, labels never invented, padding ignored.
#include <doctest/doctest.h>

#include <set>

#include <opencv2/core.hpp>

#include "ovseg/train/augment.hpp"

using namespace ovseg;

namespace {

// An image whose pixel colour encodes its label (label c -> (10c, 20c, 30c)),
// so any misalignment of image and label after a geometric step shows.
std::pair<cv::Mat, cv::Mat> coded_pair(int w, int h) {
  cv::Mat label(h, w, CV_32SC1), image(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int c = (x / 7 + 2 * (y / 5)) % 5;
      label.at<int32_t>(y, x) = c;
      image.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>(10 * c), static_cast<uchar>(20 * c),
                                            static_cast<uchar>(30 * c));
    }
  return {image, label};
}

}  // namespace

TEST_CASE("augment: same seed, same sample; another seed, another sample") {
  auto [image, label] = coded_pair(90, 70);
  train::AugmentOptions o;
  o.crop = 32;
  const auto a = train::augment_sample(image, label, o, 42), b = train::augment_sample(image, label, o, 42);
  CHECK(cv::norm(a.image, b.image, cv::NORM_INF) == 0);
  CHECK(cv::norm(a.label, b.label, cv::NORM_INF) == 0);
  bool differs = false;
  for (uint64_t s = 1; s < 6 && !differs; ++s)
    differs = cv::norm(train::augment_sample(image, label, o, s).label, a.label, cv::NORM_INF) > 0;
  CHECK(differs);
  CHECK(train::sample_seed(0, 3, 1) != train::sample_seed(0, 3, 2));
  CHECK(train::sample_seed(0, 3, 1) == train::sample_seed(0, 3, 1));
}

TEST_CASE("augment: geometry keeps image and label aligned; nearest labels only; padding ignored") {
  auto [image, label] = coded_pair(40, 30);
  train::AugmentOptions o;
  o.crop = 48;            // larger than some resized images: padding happens
  o.photometric = false;  // colours stay codes
  o.short_side = 30;
  o.ratio_min = 0.5;
  o.ratio_max = 2.0;
  int padded = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    const auto s = train::augment_sample(image, label, o, seed);
    REQUIRE(s.image.rows == 48);
    REQUIRE(s.image.cols == 48);
    REQUIRE(s.label.type() == CV_32SC1);
    for (int y = 0; y < 48; ++y)
      for (int x = 0; x < 48; ++x) {
        const int c = s.label.at<int32_t>(y, x);
        if (c == 255) {
          ++padded;
          CHECK(s.image.at<cv::Vec3b>(y, x) == cv::Vec3b(0, 0, 0));
          continue;
        }
        REQUIRE((c >= 0 && c < 5));
        // Bilinear image resizing blends colours near label edges (and
        // samples half a source pixel away from nearest); two pixels inside
        // a region the colour is the code of the label.
        const cv::Vec3b px = s.image.at<cv::Vec3b>(y, x);
        bool interior = y >= 2 && x >= 2 && y < 46 && x < 46;
        for (int dy = -2; interior && dy <= 2; ++dy)
          for (int dx = -2; interior && dx <= 2; ++dx) interior = s.label.at<int32_t>(y + dy, x + dx) == c;
        if (interior) CHECK(std::abs(px[2] - 30 * c) <= 16);
      }
  }
  CHECK(padded > 0);
}

TEST_CASE("augment: cat_max_ratio prefers crops where no class dominates") {
  // Left 90% one class, a thin strip of another at the right.
  cv::Mat label(64, 200, CV_32SC1, cv::Scalar(0)), image(64, 200, CV_8UC3, cv::Scalar(0, 0, 0));
  label(cv::Rect(180, 0, 20, 64)).setTo(1);
  train::AugmentOptions o;
  o.crop = 40;
  o.ratio_min = o.ratio_max = 1.0;
  o.short_side = 64;
  o.photometric = o.flip = false;
  auto mixed_share = [&](double cat_max) {
    o.cat_max_ratio = cat_max;
    int mixed = 0;
    for (uint64_t seed = 0; seed < 60; ++seed) {
      const auto s = train::augment_sample(image, label, o, seed);
      std::set<int> seen;
      for (int y = 0; y < s.label.rows; ++y)
        for (int x = 0; x < s.label.cols; ++x) seen.insert(s.label.at<int32_t>(y, x));
      mixed += seen.size() > 1;
    }
    return mixed;
  };
  CHECK(mixed_share(0.75) > mixed_share(1.0) + 10);
}

TEST_CASE("augment: photometric distortion changes colours, never labels") {
  auto [image, label] = coded_pair(64, 64);
  train::AugmentOptions o;
  o.crop = 64;
  o.short_side = 64;
  o.ratio_min = o.ratio_max = 1.0;
  o.flip = false;
  o.cat_max_ratio = 1.0;
  bool changed = false;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    const auto s = train::augment_sample(image, label, o, seed);
    CHECK(cv::norm(s.label, label, cv::NORM_INF) == 0);
    changed |= cv::norm(s.image, image, cv::NORM_INF) > 0;
  }
  CHECK(changed);
  CHECK_THROWS_WITH(train::augment_sample(image, cv::Mat(3, 3, CV_32SC1), o, 0), doctest::Contains("of one size"));
}
