// The people world's label sets: LIP / CIHP (20 classes) and
// PASCAL-Person-Part (7 classes) as functions of a pixel's (Surface,
// Segment), and part names for open-vocabulary prompts.
//
// LIP / CIHP ids follow cls_lip.txt: 0 background, 1 hat, 2 hair, 3 glove,
// 4 sunglasses, 5 upper clothes, 6 dress, 7 coat, 8 socks, 9 pants,
// 10 jumpsuits, 11 scarf, 12 skirt, 13 face, 14 left arm, 15 right arm,
// 16 left leg, 17 right leg, 18 left shoe, 19 right shoe. LIP labels what is
// seen: a sleeve is upper clothes, bare skin on an arm (hand included, as in
// LIP's annotations) is that arm, bare skin on a leg is that leg, and the
// side is the figure's own. The world draws no socks, jumpsuits or scarves
// (ids 8, 10, 11 never occur).
//
// PASCAL-Person-Part ids follow cls_pascal_person_part.txt: 0 background,
// 1 head, 2 torso, 3 upper arms, 4 lower arms, 5 upper legs, 6 lower legs.
// It labels body parts whatever covers them: hair and hat are head, a sleeve
// is its arm, hands belong to the lower arms and feet to the lower legs (as
// in the data set's annotations of Chen et al. 2014). Assumption: the flare
// of a skirt, dress or coat below the hips (Segment::Hem) counts as upper
// legs, which it covers.
#include "ovseg/world/people.hpp"

namespace ovseg::world {

namespace {
bool is_left(Segment g) {
  switch (g) {
    case Segment::LeftUpperArm:
    case Segment::LeftLowerArm:
    case Segment::LeftHand:
    case Segment::LeftUpperLeg:
    case Segment::LeftLowerLeg:
    case Segment::LeftFoot: return true;
    default: return false;
  }
}
bool is_arm(Segment g) { return g >= Segment::LeftUpperArm && g <= Segment::RightHand; }
bool is_leg(Segment g) { return g >= Segment::LeftUpperLeg && g <= Segment::RightFoot; }
}  // namespace

int people_lip_label(Surface s, Segment g) {
  switch (s) {
    case Surface::None: return 0;
    case Surface::Hat: return 1;
    case Surface::Hair: return 2;
    case Surface::Glove: return 3;
    case Surface::Sunglasses: return 4;
    case Surface::UpperClothes: return 5;
    case Surface::Dress: return 6;
    case Surface::Coat: return 7;
    case Surface::Pants: return 9;
    case Surface::Skirt: return 12;
    case Surface::Face: return 13;
    case Surface::Shoe: return is_left(g) ? 18 : 19;
    case Surface::Skin:
      if (is_arm(g)) return is_left(g) ? 14 : 15;
      if (is_leg(g)) return is_left(g) ? 16 : 17;
      return 13;  // skin on the head or neck is face
    default: return 0;
  }
}

int people_ppp_label(Surface s, Segment g) {
  if (s == Surface::None) return 0;
  switch (g) {
    case Segment::Head: return 1;
    case Segment::Torso: return 2;
    case Segment::LeftUpperArm:
    case Segment::RightUpperArm: return 3;
    case Segment::LeftLowerArm:
    case Segment::RightLowerArm:
    case Segment::LeftHand:
    case Segment::RightHand: return 4;
    case Segment::LeftUpperLeg:
    case Segment::RightUpperLeg:
    case Segment::Hem: return 5;
    case Segment::LeftLowerLeg:
    case Segment::RightLowerLeg:
    case Segment::LeftFoot:
    case Segment::RightFoot: return 6;
    default: return 0;
  }
}

namespace {
cv::Mat map_labels(const PeopleScene& sc, int (*f)(Surface, Segment)) {
  cv::Mat out(sc.surface.size(), CV_8UC1);
  for (int y = 0; y < out.rows; ++y)
    for (int x = 0; x < out.cols; ++x)
      out.at<uchar>(y, x) = static_cast<uchar>(
          f(static_cast<Surface>(sc.surface.at<uchar>(y, x)), static_cast<Segment>(sc.segment.at<uchar>(y, x))));
  return out;
}
}  // namespace

cv::Mat people_lip_labels(const PeopleScene& scene) { return map_labels(scene, people_lip_label); }
cv::Mat people_ppp_labels(const PeopleScene& scene) { return map_labels(scene, people_ppp_label); }

const std::vector<std::string>& people_lip_part_names() {
  static const std::vector<std::string> n = {"background",
                                             "hat,cap",
                                             "hair",
                                             "glove,gloves",
                                             "sunglasses,glasses",
                                             "upper clothes,shirt,top,t-shirt",
                                             "dress",
                                             "coat,jacket",
                                             "socks",
                                             "pants,trousers,shorts",
                                             "jumpsuits,jumpsuit",
                                             "scarf",
                                             "skirt",
                                             "face",
                                             "left arm",
                                             "right arm",
                                             "left leg",
                                             "right leg",
                                             "left shoe",
                                             "right shoe"};
  return n;
}

const std::vector<std::string>& people_ppp_part_names() {
  static const std::vector<std::string> n = {"background",
                                             "head",
                                             "torso,body",
                                             "upper arms,upper arm",
                                             "lower arms,lower arm,forearm,hand",
                                             "upper legs,upper leg,thigh",
                                             "lower legs,lower leg,shin,foot"};
  return n;
}

}  // namespace ovseg::world
