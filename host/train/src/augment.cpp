#include "ovseg/train/augment.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

namespace ovseg::train {

namespace {

uint64_t splitmix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// mt19937_64's sequence is fixed by the standard, its distributions are not:
// ranges are mapped here so every standard library draws the same samples.
class Rng {
 public:
  explicit Rng(uint64_t seed) : g_(seed) {}
  double uniform(double lo, double hi) { return lo + (hi - lo) * ((g_() >> 11) * 0x1.0p-53); }
  int below(int n) { return n <= 1 ? 0 : static_cast<int>(g_() % static_cast<uint64_t>(n)); }
  bool coin() { return below(2) == 1; }  // numpy's random.randint(2)

 private:
  std::mt19937_64 g_;
};

// Exchanges the classes of each pair in a CV_32SC1 label map.
void swap_classes(cv::Mat& label, const std::vector<std::pair<int, int>>& pairs) {
  for (int y = 0; y < label.rows; ++y) {
    int32_t* p = label.ptr<int32_t>(y);
    for (int x = 0; x < label.cols; ++x)
      for (const auto& [a, b] : pairs) {
        if (p[x] == a) {
          p[x] = b;
          break;
        }
        if (p[x] == b) {
          p[x] = a;
          break;
        }
      }
  }
}

// mmcv.rescale_size(old (w,h), scale (long, short)): keep ratio, fit both.
cv::Size rescale(int w, int h, double long_side, double short_side) {
  const double f = std::min(long_side / std::max(w, h), short_side / std::min(w, h));
  return {static_cast<int>(w * f + 0.5), static_cast<int>(h * f + 0.5)};
}

// PhotoMetricDistortion.convert: float(img) * alpha + beta, clipped, uint8.
void convert(cv::Mat& img, double alpha, double beta) { img.convertTo(img, CV_8UC3, alpha, beta); }

void photometric(cv::Mat& img, Rng& rng) {
  if (rng.coin()) convert(img, 1.0, rng.uniform(-32, 32));  // brightness
  const bool contrast_first = rng.coin();                   // mode == 1
  auto contrast = [&] {
    if (rng.coin()) convert(img, rng.uniform(0.5, 1.5), 0);
  };
  if (contrast_first) contrast();
  if (rng.coin()) {  // saturation, in OpenCV's 8-bit HSV (mmcv.bgr2hsv)
    cv::Mat hsv;
    cv::cvtColor(img, hsv, cv::COLOR_BGR2HSV);
    std::vector<cv::Mat> ch;
    cv::split(hsv, ch);
    ch[1].convertTo(ch[1], CV_8U, rng.uniform(0.5, 1.5), 0);
    cv::merge(ch, hsv);
    cv::cvtColor(hsv, img, cv::COLOR_HSV2BGR);
  }
  if (rng.coin()) {  // hue: H = (H + delta) % 180
    const int delta = rng.below(37) - 18;
    cv::Mat hsv;
    cv::cvtColor(img, hsv, cv::COLOR_BGR2HSV);
    for (int y = 0; y < hsv.rows; ++y)
      for (int x = 0; x < hsv.cols; ++x) {
        uchar& h = hsv.at<cv::Vec3b>(y, x)[0];
        h = static_cast<uchar>(((h + delta) % 180 + 180) % 180);
      }
    cv::cvtColor(hsv, img, cv::COLOR_HSV2BGR);
  }
  if (!contrast_first) contrast();
}

// Whether no single class covers more than `ratio` of the labelled pixels.
bool balanced(const cv::Mat& label, double ratio, int ignore) {
  std::map<int, int> count;
  int total = 0;
  for (int y = 0; y < label.rows; ++y)
    for (int x = 0; x < label.cols; ++x) {
      const int c = label.at<int32_t>(y, x);
      if (c != ignore) ++count[c], ++total;
    }
  if (count.size() < 2) return false;
  int top = 0;
  for (const auto& [c, n] : count) top = std::max(top, n);
  return static_cast<double>(top) / total < ratio;
}

}  // namespace

uint64_t sample_seed(uint64_t run_seed, int64_t step, int64_t index) {
  return splitmix(splitmix(splitmix(run_seed) ^ static_cast<uint64_t>(step)) ^ static_cast<uint64_t>(index));
}

AugmentedSample augment_sample(const cv::Mat& image, const cv::Mat& label, const AugmentOptions& o, uint64_t seed,
                               const cv::Mat& instances) {
  if (image.type() != CV_8UC3 || label.type() != CV_32SC1 || image.size() != label.size())
    throw std::invalid_argument("augment_sample: expected a CV_8UC3 image and a CV_32SC1 label of one size");
  const bool with_instances = !instances.empty();
  if (with_instances && (instances.type() != CV_32SC1 || instances.size() != label.size()))
    throw std::invalid_argument("augment_sample: instances must be CV_32SC1 of the label's size");
  if (o.crop <= 0) throw std::invalid_argument("augment_sample: crop must be positive");
  Rng rng(seed);
  AugmentedSample s;
  // RandomResize.
  const double ratio = rng.uniform(o.ratio_min, o.ratio_max);
  const double short_side = (o.short_side > 0 ? o.short_side : std::min(image.cols, image.rows)) * ratio;
  const double long_side = (o.short_side > 0 ? o.max_long_side : std::max(image.cols, image.rows)) * ratio;
  const cv::Size size = rescale(image.cols, image.rows, long_side, short_side);
  if (size != image.size()) {
    cv::resize(image, s.image, size, 0, 0, cv::INTER_LINEAR);
    cv::resize(label, s.label, size, 0, 0, cv::INTER_NEAREST);
    if (with_instances) cv::resize(instances, s.instances, size, 0, 0, cv::INTER_NEAREST);
  } else {
    s.image = image.clone();
    s.label = label.clone();
    if (with_instances) s.instances = instances.clone();
  }
  // RandomCrop.
  const int ch = std::min(o.crop, s.image.rows), cw = std::min(o.crop, s.image.cols);
  cv::Rect box;
  for (int attempt = 0; attempt < 10; ++attempt) {
    box = cv::Rect(rng.below(s.image.cols - cw + 1), rng.below(s.image.rows - ch + 1), cw, ch);
    if (o.cat_max_ratio >= 1.0 || balanced(s.label(box), o.cat_max_ratio, o.ignore_index)) break;
  }
  s.image = s.image(box).clone();
  s.label = s.label(box).clone();
  if (with_instances) s.instances = s.instances(box).clone();
  if (o.flip && rng.coin()) {
    cv::flip(s.image, s.image, 1);
    cv::flip(s.label, s.label, 1);
    if (o.flip_swap && !o.flip_swap->empty()) swap_classes(s.label, *o.flip_swap);
    if (with_instances) cv::flip(s.instances, s.instances, 1);
  }
  if (o.photometric) photometric(s.image, rng);
  // Pad to the crop size (mmseg's Pad: image 0, label ignore).
  if (s.image.rows < o.crop || s.image.cols < o.crop) {
    cv::copyMakeBorder(s.image, s.image, 0, o.crop - s.image.rows, 0, o.crop - s.image.cols, cv::BORDER_CONSTANT,
                       cv::Scalar::all(0));
    const int bottom = o.crop - s.label.rows, right = o.crop - s.label.cols;
    cv::copyMakeBorder(s.label, s.label, 0, bottom, 0, right, cv::BORDER_CONSTANT, cv::Scalar::all(o.ignore_index));
    if (with_instances)
      cv::copyMakeBorder(s.instances, s.instances, 0, bottom, 0, right, cv::BORDER_CONSTANT, cv::Scalar::all(0));
  }
  return s;
}

}  // namespace ovseg::train
