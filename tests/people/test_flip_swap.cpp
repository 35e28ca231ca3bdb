#include <doctest/doctest.h>

#include <opencv2/core.hpp>

#include "ovseg/train/augment.hpp"

using namespace ovseg::train;

TEST_CASE("left/right class pairs come from the class names") {
  const std::vector<std::string> lip = {"background",    "hat",      "hair",      "glove",     "sunglasses",
                                        "upper clothes", "dress",    "coat",      "socks",     "pants",
                                        "jumpsuits",     "scarf",    "skirt",     "face",      "left arm",
                                        "right arm",     "left leg", "right leg", "left shoe", "right shoe"};
  const auto pairs = left_right_pairs(lip);
  REQUIRE(pairs.size() == 3);
  CHECK(pairs[0] == std::pair<int, int>{14, 15});
  CHECK(pairs[1] == std::pair<int, int>{16, 17});
  CHECK(pairs[2] == std::pair<int, int>{18, 19});
  CHECK(left_right_pairs({"grass", "house", "left"}).empty());
}

TEST_CASE("a flipped crop swaps left and right labels") {
  // Left half "left arm" (14), right half "face" (13); image left half dark.
  cv::Mat image(8, 8, CV_8UC3, cv::Scalar(200, 200, 200)), label(8, 8, CV_32SC1, cv::Scalar(13));
  image(cv::Rect(0, 0, 4, 8)).setTo(cv::Scalar(10, 10, 10));
  label(cv::Rect(0, 0, 4, 8)).setTo(14);
  AugmentOptions o;
  o.crop = 8;
  o.short_side = 8;
  o.max_long_side = 8;
  o.ratio_min = o.ratio_max = 1.0;
  o.photometric = false;
  o.flip_swap = std::vector<std::pair<int, int>>{{14, 15}};
  int flipped = 0, kept = 0;
  for (uint64_t seed = 0; seed < 16; ++seed) {
    const AugmentedSample s = augment_sample(image, label, o, seed);
    const bool was_flipped = s.image.at<cv::Vec3b>(0, 0)[0] > 100;  // the dark half moved right
    if (was_flipped) {
      ++flipped;
      CHECK(s.label.at<int32_t>(0, 7) == 15);  // the mirrored left arm is a right arm
      CHECK(s.label.at<int32_t>(0, 0) == 13);
    } else {
      ++kept;
      CHECK(s.label.at<int32_t>(0, 0) == 14);
    }
  }
  CHECK(flipped > 0);
  CHECK(kept > 0);
}
