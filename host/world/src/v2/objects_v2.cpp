// World v2's object shapes. Each is drawn in a local frame (x right, y down,
// units of Pose::r, the object roughly within [-1, 1]^2) mapped to the image
// by the pose; every piece is a filled polygon without anti-aliasing, so
// masks, labels and pixels agree exactly.
#include "objects_v2.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include <opencv2/imgproc.hpp>

#include "../common/rng.hpp"

namespace ovseg::world::v2 {

namespace {

class Pen {
 public:
  Pen(cv::Size size, const Pose& pose)
      : size_(size), pose_(pose), cs_(std::cos(pose.rotation)), sn_(std::sin(pose.rotation)) {}

  cv::Point2d at(double x, double y) const {
    if (pose_.mirror) x = -x;
    return {pose_.centre.x + pose_.r * (x * cs_ - y * sn_), pose_.centre.y + pose_.r * (x * sn_ + y * cs_)};
  }
  cv::Point pixel(double x, double y) const {
    const cv::Point2d p = at(x, y);
    return {static_cast<int>(std::lround(p.x)), static_cast<int>(std::lround(p.y))};
  }
  cv::Mat blank() const { return cv::Mat::zeros(size_, CV_8UC1); }

  void polygon(cv::Mat& m, const std::vector<cv::Point2d>& local) const {
    std::vector<cv::Point> pts;
    for (const auto& q : local) pts.push_back(pixel(q.x, q.y));
    cv::fillPoly(m, std::vector<std::vector<cv::Point>>{pts}, 255, cv::LINE_8);
  }
  // An elliptical arc from angle a0 to a1 closed by its chord (the whole
  // ellipse by default).
  void ellipse(cv::Mat& m, double cx, double cy, double ax, double ay, double a0 = 0, double a1 = 2 * kPi) const {
    std::vector<cv::Point2d> pts;
    const int n = 36;
    for (int i = 0; i <= n; ++i) {
      const double a = a0 + (a1 - a0) * i / n;
      pts.emplace_back(cx + ax * std::cos(a), cy + ay * std::sin(a));
    }
    polygon(m, pts);
  }
  void circle(cv::Mat& m, double cx, double cy, double radius) const { ellipse(m, cx, cy, radius, radius); }
  void rect(cv::Mat& m, double x0, double y0, double x1, double y1) const {
    polygon(m, {{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}});
  }
  // A stroke `width` (local units) wide, at least one pixel.
  void line(cv::Mat& m, const std::vector<cv::Point2d>& local, double width) const {
    const int t = std::max(1, static_cast<int>(std::lround(width * pose_.r)));
    for (size_t i = 1; i < local.size(); ++i)
      cv::line(m, pixel(local[i - 1].x, local[i - 1].y), pixel(local[i].x, local[i].y), 255, t, cv::LINE_8);
  }

 private:
  cv::Size size_;
  Pose pose_;
  double cs_, sn_;
};

Look plain(int colour) { return {colour, Pattern::Plain, colour}; }

}  // namespace

bool stands_upright(int cls) {
  switch (cls) {
    case kHouse:
    case kTree:
    case kCar:
    case kBoat:
    case kUmbrella:
    case kBalloon:
    case kFlag:
    case kGift:
    case kLollipop:
    case kSnail: return true;
    default: return false;
  }
}

std::vector<Layer> draw_object(int cls, cv::Size size, const Pose& pose) {
  const Pen pen(size, pose);
  std::vector<Layer> layers;
  // A layer of class c (its centre: the object's unless given).
  auto add = [&](int c, cv::Mat m, std::optional<Look> look = std::nullopt, bool aligned = false,
                 cv::Point2d centre = {-1e9, -1e9}) {
    layers.push_back({c, std::move(m), look, centre.x < -1e8 ? pose.centre : centre, aligned});
  };
  cv::Mat a = pen.blank(), b = pen.blank(), c = pen.blank();
  switch (cls) {
    case kHouse:
      pen.rect(a, -0.7, -0.1, 0.7, 0.85);
      pen.polygon(b, {{-0.92, -0.05}, {0.92, -0.05}, {0, -0.9}});
      pen.rect(c, 0.05, 0.3, 0.42, 0.85);
      add(kHouse, a, std::nullopt, true);
      add(kRoof, b, std::nullopt, true);
      if (pose.door) add(kDoor, c);
      break;
    case kTree:
      pen.rect(a, -0.17, 0.05, 0.17, 0.95);
      pen.circle(b, 0, -0.35, 0.6);
      pen.circle(b, -0.38, -0.05, 0.42);
      pen.circle(b, 0.38, -0.05, 0.42);
      add(kTrunk, a, std::nullopt, true);
      add(kTree, b);
      break;
    case kCar:
      pen.polygon(a, {{-0.95, 0.0},
                      {-0.95, 0.45},
                      {0.95, 0.45},
                      {0.95, 0.05},
                      {0.55, 0.0},
                      {0.3, -0.45},
                      {-0.45, -0.45},
                      {-0.65, 0.0}});
      pen.circle(b, -0.55, 0.45, 0.3);
      pen.circle(c, 0.55, 0.45, 0.3);
      add(kCar, a);
      add(kWheel, b, std::nullopt, false, pen.at(-0.55, 0.45));
      add(kWheel, c, std::nullopt, false, pen.at(0.55, 0.45));
      break;
    case kBoat:
      pen.polygon(a, {{-1.0, 0.05}, {1.0, 0.05}, {0.7, 0.55}, {-0.7, 0.55}});
      pen.rect(a, -0.4, -0.35, 0.2, 0.05);
      add(kBoat, a, std::nullopt, true);
      break;
    case kFish:
      pen.ellipse(a, 0.15, 0, 0.68, 0.4);
      pen.polygon(a, {{-0.4, 0}, {-0.95, -0.45}, {-0.95, 0.45}});
      pen.circle(b, 0.55, -0.08, 0.09);
      add(kFish, a, std::nullopt, true);
      add(kFish, b, plain(kBlack));
      break;
    case kLadybug:
      pen.ellipse(a, 0, -0.62, 0.34, 0.24);
      pen.ellipse(b, 0, 0.12, 0.62, 0.72);
      add(kLadybug, a, plain(kBlack));
      add(kLadybug, b);
      break;
    case kBee:
      pen.ellipse(a, 0, 0, 0.78, 0.45);
      pen.circle(b, 0.8, 0, 0.26);
      add(kBee, a, std::nullopt, true);
      add(kBee, b, plain(kBlack));
      break;
    case kFlower:
      for (int k = 0; k < 5; ++k) {
        const double t = 2 * kPi * k / 5 - kPi / 2;
        pen.circle(a, 0.52 * std::cos(t), 0.52 * std::sin(t), 0.4);
      }
      pen.circle(b, 0, 0, 0.3);
      add(kFlower, a);
      add(kFlower, b, Look{kYellow, Pattern::Dots, kOrange});
      break;
    case kBall:
      pen.circle(a, 0, 0, 0.85);
      add(kBall, a);
      break;
    case kUmbrella:
      pen.line(a, {{0, 0.05}, {0, 0.82}, {0.2, 0.92}}, 0.1);
      pen.ellipse(b, 0, 0.05, 0.95, 0.75, kPi, 2 * kPi);
      add(kUmbrella, a, plain(kBlack));
      add(kUmbrella, b);
      break;
    case kKite:
      pen.line(a, {{0, 0.62}, {0.12, 0.78}, {-0.05, 0.9}, {0.08, 1.0}}, 0.07);
      pen.polygon(b, {{0, -0.95}, {0.58, -0.2}, {0, 0.62}, {-0.58, -0.2}});
      add(kKite, a, plain(kNavy));
      add(kKite, b, std::nullopt, true);
      break;
    case kBalloon:
      pen.line(a, {{0, 0.55}, {0.08, 0.78}, {0, 1.0}}, 0.05);
      pen.ellipse(b, 0, -0.22, 0.55, 0.68);
      pen.polygon(b, {{0, 0.4}, {-0.1, 0.56}, {0.1, 0.56}});
      add(kBalloon, a, plain(kBlack));
      add(kBalloon, b);
      break;
    case kStar: {
      std::vector<cv::Point2d> pts;
      for (int k = 0; k < 10; ++k) {
        const double t = -kPi / 2 + kPi * k / 5, rr = (k % 2) ? 0.45 : 1.0;
        pts.emplace_back(rr * std::cos(t), rr * std::sin(t));
      }
      pen.polygon(a, pts);
      add(kStar, a);
      break;
    }
    case kFlag:
      pen.rect(a, -0.82, -0.95, -0.7, 0.95);
      pen.rect(b, -0.7, -0.9, 0.85, 0.15);
      add(kFlag, a, plain(kBlack));
      add(kFlag, b, std::nullopt, true);
      break;
    case kGift:
      pen.ellipse(a, -0.22, -0.68, 0.22, 0.14);
      pen.ellipse(a, 0.22, -0.68, 0.22, 0.14);
      pen.rect(b, -0.75, -0.55, 0.75, 0.85);
      add(kGift, a, plain(kYellow));
      add(kGift, b, std::nullopt, true);
      break;
    case kTurtle:
      for (const double sx : {-0.5, 0.5})
        for (const double sy : {-0.5, 0.5}) pen.circle(a, sx, sy, 0.2);
      pen.circle(a, 0.88, 0, 0.24);
      pen.ellipse(a, 0, 0, 0.72, 0.56);
      add(kTurtle, a, std::nullopt, true);
      break;
    case kLollipop:  // the stick shares the candy's rings
      pen.rect(a, -0.07, 0.3, 0.07, 1.0);
      pen.circle(a, 0, -0.3, 0.62);
      add(kLollipop, a, std::nullopt, false, pen.at(0, -0.3));
      break;
    case kSnail:  // rings around the shell's centre, over the foot too
      pen.ellipse(a, 0, 0.5, 0.95, 0.2);
      pen.circle(a, 0.8, 0.3, 0.17);
      pen.line(a, {{0.8, 0.3}, {0.95, -0.05}}, 0.06);
      pen.circle(a, 0, 0, 0.55);
      add(kSnail, a, std::nullopt, false, pen.at(0, 0));
      break;
    case kMoon:
      pen.circle(a, 0, 0, 0.9);
      pen.circle(b, 0.42, -0.12, 0.75);
      a.setTo(0, b);
      add(kMoon, a);
      break;
    case kFrog:
      pen.ellipse(a, 0, 0.15, 0.8, 0.6);
      pen.circle(a, -0.4, -0.4, 0.24);
      pen.circle(a, 0.4, -0.4, 0.24);
      pen.circle(b, -0.4, -0.44, 0.1);
      pen.circle(b, 0.4, -0.44, 0.1);
      add(kFrog, a);
      add(kFrog, b, plain(kBlack));
      break;
    default: throw std::invalid_argument("world v2: class " + std::to_string(cls) + " is not an object");
  }
  return layers;
}

}  // namespace ovseg::world::v2
