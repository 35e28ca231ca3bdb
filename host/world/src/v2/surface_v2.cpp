#include "surface_v2.hpp"

#include <cmath>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "../common/stuff_textures.hpp"

namespace ovseg::world::v2 {

namespace {

cv::Scalar scaled(const cv::Vec3d& bgr, double k) { return cv::Scalar(bgr[0] * k, bgr[1] * k, bgr[2] * k); }

// Bright and bluish white (sand is yellowish), with blue-grey shadowed
// drifts and sparkles.
cv::Mat snow_texture(int w, int h, Rng& rng) {
  const cv::Vec3d base(rng.uniform(245, 255), rng.uniform(228, 240), rng.uniform(210, 226));
  cv::Mat img = noisy_canvas(w, h, base, {0.6, 0.8, 1.0}, 7, rng);
  const int drifts = std::max(1, w * h / 300);
  for (int i = 0; i < drifts; ++i) {
    const cv::Point c(rng.below(w), rng.below(h));
    const cv::Size axes(rng.range(3, 9), rng.range(1, 3));
    const cv::Vec3d shade(base[0] * 0.92, base[1] * 0.84, base[2] * 0.76);
    cv::ellipse(img, c, axes, rng.uniform(-20, 20), 0, 360, scaled(shade, 1.0), cv::FILLED, cv::LINE_8);
  }
  const int sparkles = w * h / 60;
  for (int i = 0; i < sparkles; ++i) img.at<cv::Vec3b>(rng.below(h), rng.below(w)) = cv::Vec3b(255, 255, 255);
  return img;
}

// Dark asphalt with dashed lane markings (white or yellow) and a few cracks.
cv::Mat road_texture(int w, int h, Rng& rng) {
  const double g = rng.uniform(58, 85);
  cv::Mat img = noisy_canvas(w, h, {g + 6, g + 2, g}, {1.0, 1.0, 1.0}, 12, rng);
  const bool yellow = rng.chance(0.35);
  const cv::Scalar paint = yellow ? cv::Scalar(40, 200, 230) : cv::Scalar(225, 230, 230);
  const double angle = rng.chance(0.6) ? 0.5 * kPi * rng.below(2) : rng.uniform(0, kPi);
  const double dx = std::cos(angle), dy = std::sin(angle);
  const double spacing = rng.uniform(14, 22), dash = rng.uniform(5, 9), gap = rng.uniform(4, 7);
  const double extent = std::hypot(w, h);
  for (double off = -extent + rng.uniform(0, spacing); off < extent; off += spacing)
    for (double t = -extent + rng.uniform(0, dash + gap); t < extent; t += dash + gap) {
      const cv::Point2d a(w / 2.0 + t * dx - off * dy, h / 2.0 + t * dy + off * dx);
      const cv::Point2d b(a.x + dash * dx, a.y + dash * dy);
      cv::line(img, cv::Point(static_cast<int>(std::lround(a.x)), static_cast<int>(std::lround(a.y))),
               cv::Point(static_cast<int>(std::lround(b.x)), static_cast<int>(std::lround(b.y))), paint, 1, cv::LINE_8);
    }
  const int cracks = std::max(1, w * h / 1500);
  for (int i = 0; i < cracks; ++i) {
    std::vector<cv::Point> pts{{rng.below(w), rng.below(h)}};
    for (int k = 0; k < 4; ++k) pts.emplace_back(pts.back().x + rng.range(-3, 3), pts.back().y + rng.range(-3, 3));
    cv::polylines(img, pts, false, cv::Scalar(g * 0.5, g * 0.5, g * 0.5), 1, cv::LINE_8);
  }
  return img;
}

// Brown earth with darker and lighter clods.
cv::Mat dirt_texture(int w, int h, Rng& rng) {
  const cv::Vec3d base(rng.uniform(38, 55), rng.uniform(68, 88), rng.uniform(100, 128));
  cv::Mat img = noisy_canvas(w, h, base, {0.6, 0.8, 1.0}, 16, rng);
  const int clods = w * h / 25;
  for (int i = 0; i < clods; ++i) {
    const double k = rng.chance(0.6) ? rng.uniform(0.55, 0.75) : rng.uniform(1.15, 1.35);
    cv::circle(img, {rng.below(w), rng.below(h)}, rng.range(0, 1), scaled(base, k), cv::FILLED, cv::LINE_8);
  }
  return img;
}

}  // namespace

cv::Mat stuff_texture(int cls, int w, int h, Rng& rng) {
  switch (cls) {
    case kGrass: return grass_texture(w, h, rng);
    case kWater: return water_texture(w, h, rng);
    case kSand: return sand_texture(w, h, rng);
    case kSnow: return snow_texture(w, h, rng);
    case kRoad: return road_texture(w, h, rng);
    default: return dirt_texture(w, h, rng);
  }
}

void paint_surface(cv::Mat& image, const cv::Mat& mask, const Look& look, cv::Point2d centre, double angle, Rng& rng) {
  const cv::Rect box = cv::boundingRect(mask);
  if (box.empty()) return;
  auto jittered = [&](int id, double j) {
    const cv::Vec3d c = colour_bgr(id);
    return cv::Vec3d(c[0] + rng.uniform(-j, j), c[1] + rng.uniform(-j, j), c[2] + rng.uniform(-j, j));
  };
  const cv::Vec3d base = jittered(look.colour, 14), alt = jittered(look.pattern_colour, 10);
  const double period = rng.uniform(3.5, 5.0);
  const double ca = std::cos(angle), sa = std::sin(angle);
  const double px = rng.uniform(0, period), py = rng.uniform(0, period);
  auto frac = [](double v, double p) { return v / p - std::floor(v / p); };  // in [0,1)
  for (int y = box.y; y < box.y + box.height; ++y) {
    const uchar* m = mask.ptr<uchar>(y);
    auto* out = image.ptr<cv::Vec3b>(y);
    for (int x = box.x; x < box.x + box.width; ++x) {
      if (!m[x]) continue;
      const double u = x * ca + y * sa + px, v = -x * sa + y * ca + py;
      bool on = false;
      switch (look.pattern) {
        case Pattern::Plain: break;
        case Pattern::Stripes: on = frac(u, period) < 0.5; break;
        case Pattern::Dots: {
          const double du = frac(u, period + 1) - 0.5, dv = frac(v, period + 1) - 0.5;
          on = du * du + dv * dv < 0.09;
          break;
        }
        case Pattern::Checks: on = (frac(u, 2 * period) < 0.5) != (frac(v, 2 * period) < 0.5); break;
        case Pattern::Grid: on = frac(u, period + 1) < 0.3 || frac(v, period + 1) < 0.3; break;
        case Pattern::Rings: on = frac(std::hypot(x - centre.x, y - centre.y), period) < 0.5; break;
      }
      const cv::Vec3d& c = on ? alt : base;
      const double n = rng.uniform(-5, 5);
      out[x] = clamp_bgr(c[0] + n, c[1] + n, c[2] + n);
    }
  }
}

}  // namespace ovseg::world::v2
