// The stuff textures of world v1 (grass, water, sand), reused by world v2.
// Frozen: world v1's pixels depend on every draw here.
#include "stuff_textures.hpp"

#include <cmath>
#include <vector>

#include <opencv2/imgproc.hpp>

namespace ovseg::world {

namespace {

// The base colour (BGR) plus per-pixel noise n = uniform(-amplitude,
// amplitude) + row_offset(y), scaled per channel by `gain`. One draw per
// pixel in row-major order, so the scenes stay what they were.
template <class RowOffset>
cv::Mat noisy_canvas(int w, int h, const cv::Vec3d& base, const cv::Vec3d& gain, double amplitude, Rng& rng,
                     RowOffset row_offset) {
  cv::Mat img(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double n = rng.uniform(-amplitude, amplitude) + row_offset(y);
      img.at<cv::Vec3b>(y, x) = clamp_bgr(base[0] + n * gain[0], base[1] + n * gain[1], base[2] + n * gain[2]);
    }
  return img;
}

}  // namespace

cv::Mat noisy_canvas(int w, int h, const cv::Vec3d& base, const cv::Vec3d& gain, double amplitude, Rng& rng) {
  return noisy_canvas(w, h, base, gain, amplitude, rng, [](int) { return 0.0; });
}

cv::Mat grass_texture(int w, int h, Rng& rng) {
  const double g0 = rng.uniform(120, 170), r0 = rng.uniform(40, 90), b0 = rng.uniform(25, 60);
  cv::Mat img = noisy_canvas(w, h, {b0, g0, r0}, {0.4, 1.0, 0.6}, 18, rng);
  // Blades: short near-vertical strokes, darker and lighter.
  const int blades = w * h / 10;
  for (int i = 0; i < blades; ++i) {
    const int x = rng.below(w), y = rng.below(h), len = rng.range(2, 5);
    const double shade = rng.chance(0.5) ? rng.uniform(0.45, 0.7) : rng.uniform(1.15, 1.4);
    const int dx = rng.range(-1, 1);
    cv::line(img, {x, y}, {x + dx, y - len}, cv::Scalar(b0 * shade, g0 * shade, r0 * shade), 1, cv::LINE_8);
  }
  return img;
}

cv::Mat water_texture(int w, int h, Rng& rng) {
  const double b0 = rng.uniform(150, 215), g0 = rng.uniform(80, 130), r0 = rng.uniform(15, 60);
  // Swell: a slow brightness wave down the rows under the fine noise.
  cv::Mat img = noisy_canvas(w, h, {b0, g0, r0}, {1.0, 0.6, 0.3}, 6, rng,
                             [](int y) { return 10 * std::sin(y * 0.35); });
  // Wave crests: light sinusoidal lines across the canvas.
  const double spacing = rng.uniform(4.0, 7.0), freq = rng.uniform(0.15, 0.35);
  for (double y0 = rng.uniform(0, spacing); y0 < h + 4; y0 += spacing) {
    const double amp = rng.uniform(0.8, 2.0), phase = rng.uniform(0, 2 * kPi);
    std::vector<cv::Point> pts;
    for (int x = 0; x <= w; x += 2) pts.emplace_back(x, static_cast<int>(y0 + amp * std::sin(x * freq + phase)));
    cv::polylines(img, pts, false, cv::Scalar(std::min(255.0, b0 + 45), g0 + 60, r0 + 70), 1, cv::LINE_8);
  }
  return img;
}

cv::Mat sand_texture(int w, int h, Rng& rng) {
  const double r0 = rng.uniform(205, 240), g0 = rng.uniform(175, 205), b0 = rng.uniform(115, 150);
  cv::Mat img = noisy_canvas(w, h, {b0, g0, r0}, {1.0, 1.0, 1.0}, 22, rng);
  // Pebbles: sparse dark grains.
  const int grains = w * h / 40;
  for (int i = 0; i < grains; ++i) {
    const double s = rng.uniform(0.5, 0.75);
    img.at<cv::Vec3b>(rng.below(h), rng.below(w)) = clamp_bgr(b0 * s, g0 * s, r0 * s);
  }
  return img;
}

}  // namespace ovseg::world
