// The people world's figures: a posed skeleton rasterised into layers (each
// a mask with a Surface and a Segment), painted per surface so a garment's
// pattern runs continuously over torso and sleeves, then composited over the
// scene so later figures occlude earlier ones.
#include <array>
#include <cmath>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

#include "../common/rng.hpp"
#include "../v2/surface_v2.hpp"
#include "ovseg/world/people.hpp"

namespace ovseg::world {

namespace {

// Proportions as fractions of the figure's height (head to sole). Chosen by
// eye for a stylised adult (about 7.5 heads tall), not measured.
constexpr double kHeadR = 0.068, kShoulderHalf = 0.115, kHipY = 0.48, kHipHalf = 0.075;
constexpr double kUpperArm = 0.17, kLowerArm = 0.15, kHandR = 0.034, kArmW = 0.06, kForearmW = 0.05;
constexpr double kThigh = 0.23, kShin = 0.22, kThighW = 0.085, kShinW = 0.068;

const std::array<cv::Vec3d, 5>& skin_tones() {  // BGR
  static const std::array<cv::Vec3d, 5> t = {
      {{180, 200, 240}, {140, 175, 225}, {100, 140, 195}, {70, 100, 150}, {45, 65, 100}}};
  return t;
}
const std::array<cv::Vec3d, 5>& hair_colours() {  // BGR: black, dark brown, brown, blonde, grey
  static const std::array<cv::Vec3d, 5> h = {
      {{25, 25, 30}, {25, 40, 70}, {40, 75, 125}, {110, 190, 225}, {170, 170, 170}}};
  return h;
}

struct Layer {
  cv::Mat mask;
  Surface surface;
  Segment segment;
};

// Builds one figure's layers, back to front.
class FigureBuilder {
 public:
  FigureBuilder(const PersonSpec& p, cv::Size size) : p_(p), size_(size), H_(p.height) {}

  std::vector<Layer> build() {
    const double top = p_.feet_y - H_;
    head_ = {p_.cx, top + kHeadR * H_};
    const double neck = top + 2 * kHeadR * H_;
    shoulder_y_ = neck + 0.02 * H_;
    hip_y_ = p_.feet_y - kHipY * H_;
    const bool front = p_.facing == Facing::Front;
    if (p_.long_hair && front) hair_behind();
    legs();
    hem();
    torso(neck - 0.015 * H_);
    arms();
    head(front);
    if (p_.long_hair && !front) hair_down_back();
    return std::move(layers_);
  }

 private:
  // +1 when the figure's own `left` side lies at the image's larger x.
  double side_x(bool left) const {
    const bool front = p_.facing == Facing::Front;
    return (left == front) ? 1.0 : -1.0;
  }
  cv::Mat blank() const { return cv::Mat::zeros(size_, CV_8UC1); }
  static cv::Point pt(cv::Point2d q) {
    return {static_cast<int>(std::lround(q.x)), static_cast<int>(std::lround(q.y))};
  }
  int px(double frac) const { return std::max(1, static_cast<int>(std::lround(frac * H_))); }

  void add(cv::Mat mask, Surface s, Segment g) { layers_.push_back({std::move(mask), s, g}); }

  void capsule(cv::Point2d a, cv::Point2d b, double width, Surface s, Segment g) {
    cv::Mat m = blank();
    cv::line(m, pt(a), pt(b), 255, px(width), cv::LINE_8);
    add(m, s, g);
  }

  // A limb from `from` at `angle` degrees (0 = straight down) swung outward
  // on the figure's side `left`.
  cv::Point2d step(cv::Point2d from, double angle, double len, bool left) const {
    const double a = angle * kPi / 180.0;
    return {from.x + side_x(left) * std::sin(a) * len * H_, from.y + std::cos(a) * len * H_};
  }

  void legs() {
    for (const bool left : {true, false}) {
      const cv::Point2d hip{p_.cx + side_x(left) * 0.045 * H_, hip_y_ - 0.01 * H_};
      const double ha = left ? p_.left_hip : p_.right_hip, ka = left ? p_.left_knee : p_.right_knee;
      const cv::Point2d knee = step(hip, ha, kThigh, left), ankle = step(knee, ha + ka, kShin, left);
      const bool covered_thigh = p_.lower != Lower::Skirt && !p_.dress;
      const bool covered_shin = p_.lower == Lower::Pants && !p_.dress;
      capsule(hip, knee, kThighW, covered_thigh ? Surface::Pants : Surface::Skin,
              left ? Segment::LeftUpperLeg : Segment::RightUpperLeg);
      capsule(knee, ankle, kShinW, covered_shin ? Surface::Pants : Surface::Skin,
              left ? Segment::LeftLowerLeg : Segment::RightLowerLeg);
      cv::Mat foot = blank();
      cv::ellipse(foot, pt({ankle.x, ankle.y + 0.012 * H_}), {px(0.042), px(0.022)}, 0, 0, 360, 255, cv::FILLED,
                  cv::LINE_8);
      add(foot, Surface::Shoe, left ? Segment::LeftFoot : Segment::RightFoot);
    }
  }

  // The flare of a skirt, dress or coat below the hips.
  void hem() {
    const bool skirt = p_.dress || p_.lower == Lower::Skirt;
    if (!skirt && !p_.coat) return;
    const double len = skirt ? 0.19 : 0.13, w0 = (kHipHalf + 0.015) * H_, w1 = (skirt ? 0.15 : 0.11) * H_;
    const double y0 = hip_y_ - 0.03 * H_, y1 = hip_y_ + len * H_;
    std::vector<cv::Point> poly = {pt({p_.cx - w0, y0}), pt({p_.cx + w0, y0}), pt({p_.cx + w1, y1}),
                                   pt({p_.cx - w1, y1})};
    cv::Mat m = blank();
    cv::fillConvexPoly(m, poly, 255, cv::LINE_8);
    if (skirt && p_.coat) {  // the skirt shows below the shorter coat
      add(m.clone(), p_.dress ? Surface::Dress : Surface::Skirt, Segment::Hem);
      cv::Mat c = blank();
      const double yc = hip_y_ + 0.13 * H_, wc = (0.11) * H_;
      std::vector<cv::Point> cp = {pt({p_.cx - w0, y0}), pt({p_.cx + w0, y0}), pt({p_.cx + wc, yc}),
                                   pt({p_.cx - wc, yc})};
      cv::fillConvexPoly(c, cp, 255, cv::LINE_8);
      add(c, Surface::Coat, Segment::Hem);
      return;
    }
    add(m, p_.coat ? Surface::Coat : (p_.dress ? Surface::Dress : Surface::Skirt), Segment::Hem);
  }

  void torso(double top) {
    const double sw = kShoulderHalf * H_, hw = (kHipHalf + 0.012) * H_;
    std::vector<cv::Point> poly = {pt({p_.cx - sw, top}), pt({p_.cx + sw, top}), pt({p_.cx + hw, hip_y_}),
                                   pt({p_.cx - hw, hip_y_})};
    cv::Mat m = blank();
    cv::fillConvexPoly(m, poly, 255, cv::LINE_8);
    add(m, p_.dress ? Surface::Dress : Surface::UpperClothes, Segment::Torso);
    if (p_.coat) {
      add(m.clone(), Surface::Coat, Segment::Torso);
      if (p_.facing == Facing::Front) {  // an open coat shows the shirt down the middle
        cv::Mat strip = blank();
        cv::rectangle(strip, pt({p_.cx - 0.03 * H_, top}), pt({p_.cx + 0.03 * H_, hip_y_}), 255, cv::FILLED);
        add(strip, p_.dress ? Surface::Dress : Surface::UpperClothes, Segment::Torso);
      }
    }
  }

  void arms() {
    const Surface garment = p_.coat ? Surface::Coat : (p_.dress ? Surface::Dress : Surface::UpperClothes);
    const Sleeves sleeves = p_.coat ? Sleeves::Long : p_.sleeves;
    for (const bool left : {true, false}) {
      const cv::Point2d sh{p_.cx + side_x(left) * kShoulderHalf * 0.85 * H_, shoulder_y_};
      const double sa = left ? p_.left_shoulder : p_.right_shoulder, ea = left ? p_.left_elbow : p_.right_elbow;
      const cv::Point2d elbow = step(sh, sa, kUpperArm, left), wrist = step(elbow, sa + ea, kLowerArm, left);
      const cv::Point2d hand = step(wrist, sa + ea, kHandR * 0.8, left);
      capsule(sh, elbow, kArmW, sleeves == Sleeves::None ? Surface::Skin : garment,
              left ? Segment::LeftUpperArm : Segment::RightUpperArm);
      capsule(elbow, wrist, kForearmW, sleeves == Sleeves::Long ? garment : Surface::Skin,
              left ? Segment::LeftLowerArm : Segment::RightLowerArm);
      cv::Mat h = blank();
      cv::circle(h, pt(hand), px(kHandR), 255, cv::FILLED, cv::LINE_8);
      add(h, p_.gloves ? Surface::Glove : Surface::Skin, left ? Segment::LeftHand : Segment::RightHand);
    }
  }

  void head(bool front) {
    const double r = kHeadR * H_;
    cv::Mat face = blank();
    cv::circle(face, pt(head_), px(kHeadR), 255, cv::FILLED, cv::LINE_8);
    add(face, Surface::Face, Segment::Head);
    cv::Mat hair = blank();
    if (front) {  // a cap of hair over the top of the head
      cv::circle(hair, pt({head_.x, head_.y - 0.45 * r}), px(kHeadR * 0.95), 255, cv::FILLED, cv::LINE_8);
      hair &= face | hair_fringe(r);
    } else {  // from behind the head is hair, the nape aside
      cv::circle(hair, pt({head_.x, head_.y - 0.12 * r}), px(kHeadR * 1.02), 255, cv::FILLED, cv::LINE_8);
    }
    add(hair, Surface::Hair, Segment::Head);
    if (front && p_.sunglasses) {
      cv::Mat g = blank();
      cv::rectangle(g, pt({head_.x - 0.8 * r, head_.y - 0.05 * r}), pt({head_.x + 0.8 * r, head_.y + 0.3 * r}), 255,
                    cv::FILLED);
      add(g & face, Surface::Sunglasses, Segment::Head);
    }
    if (p_.hat) {
      cv::Mat h = blank();
      cv::ellipse(h, pt({head_.x, head_.y - 0.55 * r}), {px(kHeadR * 1.35), px(kHeadR * 0.22)}, 0, 0, 360, 255,
                  cv::FILLED, cv::LINE_8);  // brim
      cv::ellipse(h, pt({head_.x, head_.y - 0.6 * r}), {px(kHeadR * 0.9), px(kHeadR * 0.75)}, 0, 180, 360, 255,
                  cv::FILLED, cv::LINE_8);  // crown
      add(h, Surface::Hat, Segment::Head);
    }
  }

  // Hair may stick out a little above and beside the head.
  cv::Mat hair_fringe(double r) const {
    cv::Mat m = blank();
    cv::circle(m, pt({head_.x, head_.y - 0.2 * r}), px(kHeadR * 1.12), 255, cv::FILLED, cv::LINE_8);
    return m;
  }

  // Long hair seen from the front hangs behind the shoulders (drawn first).
  void hair_behind() {
    cv::Mat m = blank();
    const double r = kHeadR * H_;
    cv::rectangle(m, pt({head_.x - 1.1 * r, head_.y}), pt({head_.x + 1.1 * r, shoulder_y_ + 0.08 * H_}), 255,
                  cv::FILLED);
    add(m, Surface::Hair, Segment::Head);
  }
  // Seen from behind it falls over the back.
  void hair_down_back() {
    cv::Mat m = blank();
    const double r = kHeadR * H_;
    cv::rectangle(m, pt({head_.x - 0.95 * r, head_.y}), pt({head_.x + 0.95 * r, shoulder_y_ + 0.09 * H_}), 255,
                  cv::FILLED);
    add(m, Surface::Hair, Segment::Head);
  }

  const PersonSpec& p_;
  cv::Size size_;
  double H_;
  cv::Point2d head_;
  double shoulder_y_ = 0, hip_y_ = 0;
  std::vector<Layer> layers_;
};

void paint_plain(cv::Mat& image, const cv::Mat& mask, cv::Vec3d base, double noise, Rng& rng) {
  for (int y = 0; y < image.rows; ++y) {
    const uchar* m = mask.ptr<uchar>(y);
    auto* out = image.ptr<cv::Vec3b>(y);
    for (int x = 0; x < image.cols; ++x) {
      if (!m[x]) continue;
      const double n = rng.uniform(-noise, noise);
      out[x] = clamp_bgr(base[0] + n, base[1] + n, base[2] + n);
    }
  }
}

v2::Look look(int colour, int pattern, int pattern_colour) {
  v2::Look l;
  l.colour = colour;
  l.pattern = static_cast<v2::Pattern>(pattern);
  l.pattern_colour = pattern_colour == colour ? (colour + 5) % v2::kColourCount : pattern_colour;
  return l;
}

// Paints one figure's pixels (where `surf` is set) onto `image`.
void paint_figure(cv::Mat& image, const cv::Mat& surf, const PersonSpec& p, Rng& rng) {
  const cv::Point2d centre{p.cx, p.feet_y - p.height / 2};
  for (int k = 1; k < static_cast<int>(Surface::Count); ++k) {
    const cv::Mat mask = surf == k;
    if (cv::countNonZero(mask) == 0) continue;
    switch (static_cast<Surface>(k)) {
      case Surface::Face:
      case Surface::Skin: paint_plain(image, mask, skin_tones()[p.skin_tone % 5], 6, rng); break;
      case Surface::Hair: paint_plain(image, mask, hair_colours()[p.hair_colour % 5], 10, rng); break;
      case Surface::Sunglasses: paint_plain(image, mask, {15, 15, 15}, 4, rng); break;
      case Surface::Glove: paint_plain(image, mask, {235, 235, 235}, 6, rng); break;
      case Surface::Shoe: v2::paint_surface(image, mask, look(p.shoe_colour, 0, 10), centre, 0, rng); break;
      case Surface::Hat: v2::paint_surface(image, mask, look(p.hat_colour, 0, 10), centre, 0, rng); break;
      case Surface::Coat: v2::paint_surface(image, mask, look(p.coat_colour, 0, 10), centre, 0, rng); break;
      case Surface::UpperClothes:
      case Surface::Dress:
        v2::paint_surface(image, mask, look(p.top_colour, p.top_pattern, p.top_pattern_colour), centre, 0.3, rng);
        break;
      case Surface::Skirt:
      case Surface::Pants:
        v2::paint_surface(image, mask, look(p.bottom_colour, p.bottom_pattern, p.bottom_pattern_colour), centre, 1.2,
                          rng);
        break;
      default: break;
    }
  }
}

// Eyes and a mouth on a face seen from the front: image only, still "face".
void draw_face_details(cv::Mat& image, const cv::Mat& surf, const PersonSpec& p) {
  if (p.facing != Facing::Front) return;
  const double r = kHeadR * p.height;
  const cv::Point2d c{p.cx, p.feet_y - p.height + r};
  const int dot = std::max(1, static_cast<int>(std::lround(0.12 * r)));
  auto put = [&](cv::Point2d q, int radius, cv::Scalar colour) {
    cv::Mat m = cv::Mat::zeros(image.size(), CV_8UC1);
    cv::circle(m, {static_cast<int>(std::lround(q.x)), static_cast<int>(std::lround(q.y))}, radius, 255, cv::FILLED,
               cv::LINE_8);
    image.setTo(colour, m & (surf == static_cast<int>(Surface::Face)));
  };
  put({c.x - 0.38 * r, c.y + 0.1 * r}, dot, {30, 25, 20});
  put({c.x + 0.38 * r, c.y + 0.1 * r}, dot, {30, 25, 20});
  put({c.x, c.y + 0.55 * r}, dot, {60, 60, 150});
}

}  // namespace

PeopleScene draw_people(const cv::Mat& background, const std::vector<PersonSpec>& people, uint64_t paint_seed) {
  CV_Assert(background.type() == CV_8UC3);
  if (people.size() > 255) throw std::invalid_argument("draw_people: at most 255 figures per scene");
  PeopleScene sc;
  sc.image = background.clone();
  sc.surface = cv::Mat::zeros(background.size(), CV_8UC1);
  sc.segment = cv::Mat::zeros(background.size(), CV_8UC1);
  cv::Mat drawn = cv::Mat::zeros(background.size(), CV_16UC1);
  sc.people = people;
  Rng rng(paint_seed);
  for (size_t i = 0; i < people.size(); ++i) {
    const PersonSpec& p = people[i];
    cv::Mat surf = cv::Mat::zeros(background.size(), CV_8UC1), seg = surf.clone();
    for (const Layer& l : FigureBuilder(p, background.size()).build()) {
      surf.setTo(static_cast<int>(l.surface), l.mask);
      seg.setTo(static_cast<int>(l.segment), l.mask);
    }
    cv::Mat img = sc.image.clone();
    paint_figure(img, surf, p, rng);
    draw_face_details(img, surf, p);
    const cv::Mat mine = surf > 0;
    img.copyTo(sc.image, mine);
    surf.copyTo(sc.surface, mine);
    seg.copyTo(sc.segment, mine);
    drawn.setTo(static_cast<int>(i + 1), mine);
  }
  // Figures hidden entirely leave no id: the visible ones count 1..n.
  std::vector<int> map(people.size() + 1, 0);
  sc.visible.assign(people.size(), 0);
  for (int y = 0; y < drawn.rows; ++y)
    for (int x = 0; x < drawn.cols; ++x) {
      const uint16_t id = drawn.at<uint16_t>(y, x);
      map[id] = 1;
      if (id) ++sc.visible[id - 1u];
    }
  map[0] = 0;  // background stays background
  int n = 0;
  for (size_t k = 1; k < map.size(); ++k) map[k] = map[k] ? ++n : 0;
  sc.person = cv::Mat::zeros(background.size(), CV_8UC1);
  for (int y = 0; y < drawn.rows; ++y)
    for (int x = 0; x < drawn.cols; ++x) sc.person.at<uchar>(y, x) = static_cast<uchar>(map[drawn.at<uint16_t>(y, x)]);
  return sc;
}

}  // namespace ovseg::world
