// World v1 (frozen; pinned by test_world_v1.cpp): stuff backgrounds, thing shapes, ground truth, caption.

#include <algorithm>
#include <array>
#include <cmath>
#include <random>

#include <opencv2/imgproc.hpp>

#include "../common/stuff_textures.hpp"
#include "../versions.hpp"
#include "text_v1.hpp"

namespace ovseg::world::v1 {

namespace {

cv::Mat stuff_texture(int cls, int w, int h, Rng& rng) {
  switch (cls) {
    case kGrass: return grass_texture(w, h, rng);
    case kWater: return water_texture(w, h, rng);
    default: return sand_texture(w, h, rng);
  }
}

// ---- things ----------------------------------------------------------------

std::vector<cv::Point> regular_polygon(cv::Point2d c, double r, int n, double rot, double inner_ratio = 0.0) {
  std::vector<cv::Point> pts;
  const int steps = inner_ratio > 0 ? 2 * n : n;
  for (int i = 0; i < steps; ++i) {
    const double rr = (inner_ratio > 0 && i % 2) ? r * inner_ratio : r;
    const double a = rot + 2 * kPi * i / steps;
    pts.emplace_back(static_cast<int>(std::lround(c.x + rr * std::cos(a))),
                     static_cast<int>(std::lround(c.y + rr * std::sin(a))));
  }
  return pts;
}

std::vector<cv::Point> cross_polygon(cv::Point2d c, double r, double rot) {
  const double a = 0.36 * r;  // arm half-width
  const std::array<cv::Point2d, 12> local = {
      {{-a, -r}, {a, -r}, {a, -a}, {r, -a}, {r, a}, {a, a}, {a, r}, {-a, r}, {-a, a}, {-r, a}, {-r, -a}, {-a, -a}}};
  std::vector<cv::Point> pts;
  const double cs = std::cos(rot), sn = std::sin(rot);
  for (const auto& p : local)
    pts.emplace_back(static_cast<int>(std::lround(c.x + p.x * cs - p.y * sn)),
                     static_cast<int>(std::lround(c.y + p.x * sn + p.y * cs)));
  return pts;
}

// The shape's pixels as a CV_8UC1 mask (255 inside). No anti-aliasing, so the
// image and the label agree on every pixel.
cv::Mat thing_mask(int cls, cv::Size size, cv::Point2d c, double r, double rot) {
  cv::Mat m = cv::Mat::zeros(size, CV_8UC1);
  switch (cls) {
    case kCircle:
      cv::circle(m, cv::Point(static_cast<int>(std::lround(c.x)), static_cast<int>(std::lround(c.y))),
                 static_cast<int>(std::lround(r * 0.9)), 255, cv::FILLED, cv::LINE_8);
      break;
    case kSquare:
      cv::fillPoly(m, std::vector<std::vector<cv::Point>>{regular_polygon(c, r, 4, rot)}, 255, cv::LINE_8);
      break;
    case kTriangle:
      cv::fillPoly(m, std::vector<std::vector<cv::Point>>{regular_polygon(c, r * 1.1, 3, rot)}, 255, cv::LINE_8);
      break;
    case kStar:
      cv::fillPoly(m, std::vector<std::vector<cv::Point>>{regular_polygon(c, r * 1.15, 5, rot, 0.45)}, 255, cv::LINE_8);
      break;
    default: cv::fillPoly(m, std::vector<std::vector<cv::Point>>{cross_polygon(c, r, rot)}, 255, cv::LINE_8);
  }
  return m;
}

// A thing's surface: its colour (jittered) modulated by its pattern, with
// random period, phase and orientation so no two things look the same.
cv::Mat thing_surface(cv::Size size, cv::Point2d centre, const cv::Vec3d& bgr, Texture tex, Rng& rng) {
  cv::Mat s(size, CV_8UC3);
  const double jitter = 14;
  const cv::Vec3d base(bgr[0] + rng.uniform(-jitter, jitter), bgr[1] + rng.uniform(-jitter, jitter),
                       bgr[2] + rng.uniform(-jitter, jitter));
  const double period = rng.uniform(3.5, 5.0), angle = rng.uniform(0, kPi), dark = rng.uniform(0.35, 0.55);
  const double ca = std::cos(angle), sa = std::sin(angle);
  const double px = rng.uniform(0, period), py = rng.uniform(0, period);
  auto frac = [](double v, double p) { return v / p - std::floor(v / p); };  // in [0,1)
  for (int y = 0; y < size.height; ++y)
    for (int x = 0; x < size.width; ++x) {
      const double u = x * ca + y * sa + px, v = -x * sa + y * ca + py;
      bool on = false;
      switch (tex) {
        case Texture::Plain: break;
        case Texture::Rings: on = frac(std::hypot(x - centre.x, y - centre.y), period) < 0.5; break;
        case Texture::Checks: on = (frac(u, 2 * period) < 0.5) != (frac(v, 2 * period) < 0.5); break;
        case Texture::Stripes: on = frac(u, period) < 0.5; break;
        case Texture::Dots: {
          const double du = frac(u, period + 1) - 0.5, dv = frac(v, period + 1) - 0.5;
          on = du * du + dv * dv < 0.09;
          break;
        }
        case Texture::Grid: on = frac(u, period + 1) < 0.3 || frac(v, period + 1) < 0.3; break;
      }
      const double k = on ? dark : 1.0, n = rng.uniform(-5, 5);
      s.at<cv::Vec3b>(y, x) = clamp_bgr(base[0] * k + n, base[1] * k + n, base[2] * k + n);
    }
  return s;
}

struct Placed {
  int cls;
  int colour;
  Texture texture;
  int drawn_pixels = 0;
  int visible_pixels = 0;
};

}  // namespace

Scene render(uint64_t seed, int w, int h) {
  Rng rng(seed);
  const cv::Size size(w, h);
  Scene sc;
  sc.image.create(size, CV_8UC3);
  sc.label.create(size, CV_8UC1);

  // Background: one stuff class, or two split by a wavy line.
  std::vector<int> stuff{kGrass, kWater, kSand};
  const int first = stuff[rng.below(3)];
  const bool two = rng.chance(0.55);
  int second = first;
  while (two && second == first) second = stuff[rng.below(3)];
  const cv::Mat tex_a = stuff_texture(first, w, h, rng);
  const cv::Mat tex_b = two ? stuff_texture(second, w, h, rng) : tex_a;
  const bool horizontal = rng.chance(0.7);
  const double t = rng.uniform(0.3, 0.7), amp = rng.uniform(0, 0.08) * (horizontal ? h : w);
  const double freq = rng.uniform(0.05, 0.2), phase = rng.uniform(0, 2 * kPi);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double along = horizontal ? x : y, across = horizontal ? y : x;
      const double boundary = t * (horizontal ? h : w) + amp * std::sin(along * freq + phase);
      const bool in_b = two && across >= boundary;
      sc.image.at<cv::Vec3b>(y, x) = (in_b ? tex_b : tex_a).at<cv::Vec3b>(y, x);
      sc.label.at<uchar>(y, x) = static_cast<uchar>(in_b ? second : first);
    }

  // Things: 1..n shapes, later ones occluding earlier ones. A scene is
  // drawn at one of three scales (far, near, close-up), so every class is
  // seen both small among others and filling much of the view.
  const double zoom = std::array<double, 3>{1.0, 1.6, 2.3}[static_cast<size_t>(rng.below(3))];
  const double area_scale = (w * h) / (64.0 * 64.0) / (zoom * zoom);
  const int max_things = std::max(1, static_cast<int>(std::lround(3 * area_scale)));
  const int n_things = rng.range(1, max_things);
  cv::Mat instance(size, CV_16UC1, cv::Scalar(0));
  std::vector<Placed> placed;
  for (int i = 0; i < n_things; ++i) {
    Placed p{kFirstThing + rng.below(kThingCount), 0, Texture::Plain};
    p.colour = rng.below(100) < 75 ? characteristic_colour(p.cls, rng.below(2)) : rng.below(colour_count());
    if (rng.below(100) < 85) p.texture = characteristic_texture(p.cls);
    const double r = rng.uniform(7.0, 14.0) * zoom;
    const cv::Point2d c(rng.uniform(r * 0.6, w - r * 0.6), rng.uniform(r * 0.6, h - r * 0.6));
    const cv::Mat mask = thing_mask(p.cls, size, c, r, rng.uniform(0, 2 * kPi));
    const cv::Mat surface = thing_surface(size, c, colour_bgr(p.colour), p.texture, rng);
    surface.copyTo(sc.image, mask);
    sc.label.setTo(p.cls, mask);
    instance.setTo(i + 1, mask);
    p.drawn_pixels = cv::countNonZero(mask);
    placed.push_back(p);
  }
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      if (const int id = instance.at<uint16_t>(y, x)) ++placed[id - 1].visible_pixels;

  // Caption: things that remain recognisable (at least 40% and 20 pixels
  // visible), stuff covering at least 15% of the scene.
  std::vector<CaptionThing> things;
  for (const auto& p : placed)
    if (p.visible_pixels >= 20 && p.visible_pixels * 10 >= p.drawn_pixels * 4)
      things.push_back({p.cls, p.colour, p.texture});
  std::vector<int> stuff_seen;
  for (const int s : {first, second}) {
    if (std::find(stuff_seen.begin(), stuff_seen.end(), s) != stuff_seen.end()) continue;
    if (cv::countNonZero(sc.label == s) * 100 >= 15 * w * h) stuff_seen.push_back(s);
  }
  if (stuff_seen.empty()) stuff_seen.push_back(first);
  sc.caption = compose_caption(things, stuff_seen, rng.raw());
  // Masks for SAM-style training (no random draws: the pixels stay v1's).
  renumber_visible(instance);
  sc.instances = instance;
  sc.parts = cv::Mat::zeros(size, CV_16UC1);
  return sc;
}

}  // namespace ovseg::world::v1
