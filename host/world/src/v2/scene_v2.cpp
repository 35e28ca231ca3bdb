// World v2 scenes: one to three stuff regions, then objects (with their
// parts) painted over them, later ones occluding earlier ones; the class,
// instance and part maps are written from the very masks that paint.
#include <algorithm>
#include <array>
#include <cmath>

#include <opencv2/core.hpp>

#include "../versions.hpp"
#include "caption_v2.hpp"
#include "objects_v2.hpp"
#include "surface_v2.hpp"

namespace ovseg::world::v2 {

namespace {

// Every pixel gets one of 1-3 stuff classes, split by wavy boundaries
// running across the scene.
std::vector<int> paint_stuff(Scene& sc, Rng& rng) {
  const int w = sc.image.cols, h = sc.image.rows;
  const double u = rng.uniform(0, 1);
  const int n = u < 0.35 ? 1 : (u < 0.8 ? 2 : 3);
  std::vector<int> stuff;
  while (static_cast<int>(stuff.size()) < n) {
    const int s = rng.below(kStuffCount);
    if (std::find(stuff.begin(), stuff.end(), s) == stuff.end()) stuff.push_back(s);
  }
  std::vector<cv::Mat> tex;
  for (const int s : stuff) tex.push_back(stuff_texture(s, w, h, rng));
  const bool horizontal = rng.chance(0.7);
  const int across_len = horizontal ? h : w;
  struct Boundary {
    double at, amp, freq, phase;
  };
  std::vector<Boundary> bounds;
  for (int i = 1; i < n; ++i) {
    // Evenly spread cut positions, jittered, so every region keeps some room.
    const double centre = static_cast<double>(i) / n;
    bounds.push_back({(centre + rng.uniform(-0.12, 0.12)) * across_len, rng.uniform(0, 0.08) * across_len,
                      rng.uniform(0.05, 0.2), rng.uniform(0, 2 * kPi)});
  }
  for (int y = 0; y < h; ++y) {
    auto* img = sc.image.ptr<cv::Vec3b>(y);
    auto* lab = sc.label.ptr<uchar>(y);
    for (int x = 0; x < w; ++x) {
      const double along = horizontal ? x : y, across = horizontal ? y : x;
      int region = 0;
      for (const Boundary& b : bounds)
        if (across >= b.at + b.amp * std::sin(along * b.freq + b.phase)) ++region;
      img[x] = tex[static_cast<size_t>(region)].at<cv::Vec3b>(y, x);
      lab[x] = static_cast<uchar>(stuff[static_cast<size_t>(region)]);
    }
  }
  return stuff;
}

// The look of one painted layer: the object's chosen look for its body, the
// part class's typical look (or now and then another colour) for a part.
Look typical_or_other(int cls, Rng& rng) {
  const ClassSpec& spec = catalog()[static_cast<size_t>(cls)];
  Look look = spec.look;
  const double u = rng.uniform(0, 1);
  if (u < 0.08)
    look.colour = rng.below(kColourCount);  // any colour of the palette
  else if (spec.alt_colour >= 0 && u < 0.3)
    look.colour = spec.alt_colour;
  if (look.colour == look.pattern_colour) look.pattern_colour = spec.look.colour;  // keep two tones
  return look;
}

struct Placed {
  int cls = 0;
  Look look;
  Size size = Size::Medium;
  int drawn = 0, visible = 0;
  int body_visible = 0;       // visible pixels labelled with the object's own class
  std::vector<int> part_ids;  // ids in the part map (before renumbering)
};

struct PartInfo {
  int cls, colour, drawn = 0, visible = 0;
};

// Seen enough to be named: at least 40% of its pixels and `min_pixels`.
bool recognisable(int visible, int drawn, int min_pixels) { return visible >= min_pixels && visible * 10 >= drawn * 4; }

std::vector<int> objects() {
  std::vector<int> v;
  for (int c = 0; c < kClassCount; ++c)
    if (catalog()[static_cast<size_t>(c)].kind == Kind::Object) v.push_back(c);
  return v;
}

}  // namespace

Scene render(uint64_t seed, int w, int h) {
  static const std::vector<int> kObjects = objects();
  Rng rng(seed);
  const cv::Size size(w, h);
  Scene sc;
  sc.image.create(size, CV_8UC3);
  sc.label.create(size, CV_8UC1);
  const std::vector<int> stuff = paint_stuff(sc, rng);

  // A scene is drawn at one of three scales (far, near, close-up), so every
  // class is seen both small among others and filling much of the view.
  const double zoom = std::array<double, 3>{1.0, 1.6, 2.3}[static_cast<size_t>(rng.below(3))];
  const double area_scale = (w * h) / (64.0 * 64.0) / (zoom * zoom);
  const int max_things = std::max(1, static_cast<int>(std::lround(3.5 * area_scale)));
  // One scene in ten has no objects: its caption names only the stuff.
  const int n_things = rng.chance(0.1) ? 0 : rng.range(1, max_things);
  const double px_per_unit = std::min(w, h) / 64.0;  // sizes are named relative to a 64 px view
  cv::Mat instance(size, CV_16UC1, cv::Scalar(0)), part(size, CV_16UC1, cv::Scalar(0));
  std::vector<Placed> placed;
  std::vector<PartInfo> parts;
  for (int i = 0; i < n_things; ++i) {
    Placed p;
    p.cls = kObjects[static_cast<size_t>(rng.below(static_cast<int>(kObjects.size())))];
    p.look = typical_or_other(p.cls, rng);
    Pose pose;
    pose.r = rng.uniform(7.0, 14.0) * zoom;
    const double rel = pose.r / px_per_unit;
    p.size = rel < 9 ? Size::Small : (rel > 20 ? Size::Big : Size::Medium);
    pose.centre = {rng.uniform(pose.r * 0.6, w - pose.r * 0.6), rng.uniform(pose.r * 0.6, h - pose.r * 0.6)};
    pose.rotation = stands_upright(p.cls) ? rng.uniform(-0.2, 0.2) : rng.uniform(0, 2 * kPi);
    pose.mirror = rng.chance(0.5);
    pose.door = rng.chance(0.7);
    const double pattern_angle = rng.uniform(0, kPi);
    cv::Mat whole = cv::Mat::zeros(size, CV_8UC1);
    for (const Layer& layer : draw_object(p.cls, size, pose)) {
      const bool is_part = catalog()[static_cast<size_t>(layer.cls)].kind == Kind::Part;
      const Look look = layer.look ? *layer.look : (layer.cls == p.cls ? p.look : typical_or_other(layer.cls, rng));
      paint_surface(sc.image, layer.mask, look, layer.centre, layer.aligned ? pose.rotation : pattern_angle, rng);
      sc.label.setTo(layer.cls, layer.mask);
      instance.setTo(i + 1, layer.mask);
      if (is_part) {
        parts.push_back({layer.cls, look.colour, cv::countNonZero(layer.mask), 0});
        p.part_ids.push_back(static_cast<int>(parts.size()));
      }
      part.setTo(is_part ? static_cast<int>(parts.size()) : 0, layer.mask);
      whole |= layer.mask;
    }
    p.drawn = cv::countNonZero(whole);
    placed.push_back(p);
  }
  for (int y = 0; y < h; ++y) {
    const auto* ins = instance.ptr<uint16_t>(y);
    const auto* prt = part.ptr<uint16_t>(y);
    const auto* lab = sc.label.ptr<uchar>(y);
    for (int x = 0; x < w; ++x) {
      if (ins[x]) {
        Placed& p = placed[ins[x] - 1u];
        ++p.visible;
        if (lab[x] == p.cls) ++p.body_visible;
      }
      if (prt[x]) ++parts[prt[x] - 1u].visible;
    }
  }

  // Caption: objects that remain recognisable, their recognisable parts,
  // stuff covering at least 15% of the scene.
  std::vector<CaptionThing> things;
  for (const Placed& p : placed) {
    if (!recognisable(p.visible, p.drawn, 20) || p.body_visible < 10) continue;
    CaptionThing t{p.cls, p.look.colour, p.look.pattern, p.size, {}};
    for (const int id : p.part_ids) {
      const PartInfo& q = parts[static_cast<size_t>(id - 1)];
      if (!recognisable(q.visible, q.drawn, 4)) continue;
      auto same = std::find_if(t.parts.begin(), t.parts.end(), [&](const CaptionPart& c) { return c.cls == q.cls; });
      if (same != t.parts.end())
        ++same->count;
      else
        t.parts.push_back({q.cls, q.colour, 1});
    }
    things.push_back(t);
  }
  std::vector<int> stuff_seen;
  for (const int s : stuff)
    if (cv::countNonZero(sc.label == s) * 100 >= 15 * w * h) stuff_seen.push_back(s);
  if (stuff_seen.empty()) stuff_seen.push_back(stuff.front());
  sc.caption = compose_caption(things, stuff_seen, rng.raw());

  renumber_visible(instance);
  renumber_visible(part);
  sc.instances = instance;
  sc.parts = part;
  return sc;
}

}  // namespace ovseg::world::v2
