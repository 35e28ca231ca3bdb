// Scene rendering: stuff backgrounds, thing shapes, ground truth, caption.
#include "ovseg/world/world.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <random>

#include <opencv2/imgproc.hpp>

#include "world_text.hpp"

namespace ovseg::world {

namespace {

constexpr double kPi = 3.14159265358979323846;

// std::mt19937_64's sequence is fixed by the standard; the distributions are
// not, so the mapping to ranges is done here to keep data sets identical on
// every standard library.
class Rng {
 public:
  explicit Rng(uint64_t seed) : g_(seed) {}
  double uniform(double lo, double hi) { return lo + (hi - lo) * ((g_() >> 11) * 0x1.0p-53); }
  int below(int n) { return static_cast<int>(g_() % static_cast<uint64_t>(n)); }
  int range(int lo, int hi) { return lo + below(hi - lo + 1); }  // inclusive
  bool chance(double p) { return uniform(0, 1) < p; }
  uint64_t raw() { return g_(); }

 private:
  std::mt19937_64 g_;
};

cv::Vec3b clamp_bgr(double b, double g, double r) {
  auto c = [](double v) { return static_cast<uchar>(std::clamp(v, 0.0, 255.0)); };
  return {c(b), c(g), c(r)};
}

// ---- stuff textures -------------------------------------------------------
// Each fills a whole canvas; the layout decides which pixels show it.

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
    cv::line(img, {x, y}, {x + dx, y - len}, cv::Scalar(b0 * shade, g0 * shade, r0 * shade), 1,
             cv::LINE_8);
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

cv::Mat stuff_texture(int cls, int w, int h, Rng& rng) {
  switch (cls) {
    case kGrass: return grass_texture(w, h, rng);
    case kWater: return water_texture(w, h, rng);
    default: return sand_texture(w, h, rng);
  }
}

// ---- things ----------------------------------------------------------------

std::vector<cv::Point> regular_polygon(cv::Point2d c, double r, int n, double rot,
                                       double inner_ratio = 0.0) {
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
  const std::array<cv::Point2d, 12> local = {{{-a, -r}, {a, -r}, {a, -a}, {r, -a}, {r, a}, {a, a},
                                              {a, r}, {-a, r}, {-a, a}, {-r, a}, {-r, -a}, {-a, -a}}};
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
    case kSquare: cv::fillPoly(m, std::vector<std::vector<cv::Point>>{regular_polygon(c, r, 4, rot)}, 255, cv::LINE_8); break;
    case kTriangle:
      cv::fillPoly(m, std::vector<std::vector<cv::Point>>{regular_polygon(c, r * 1.1, 3, rot)}, 255, cv::LINE_8);
      break;
    case kStar:
      cv::fillPoly(m, std::vector<std::vector<cv::Point>>{regular_polygon(c, r * 1.15, 5, rot, 0.45)}, 255,
                   cv::LINE_8);
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

Scene render_scene(uint64_t seed, const SceneOptions& opt) {
  Rng rng(seed);
  const int w = opt.width, h = opt.height;
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
  return sc;
}

uint64_t scene_seed(uint64_t world_seed, const std::string& split, uint64_t index) {
  // FNV-1a over the split name, then splitmix64 over the three parts.
  uint64_t hsplit = 1469598103934665603ull;
  for (const unsigned char ch : split) hsplit = (hsplit ^ ch) * 1099511628211ull;
  auto mix = [](uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  return mix(mix(mix(world_seed) ^ hsplit) ^ index);
}

}  // namespace ovseg::world
