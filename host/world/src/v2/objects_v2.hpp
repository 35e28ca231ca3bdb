// Internal: world v2's object shapes, as layers of exact pixel masks.
#pragma once

#include <optional>
#include <vector>

#include <opencv2/core/mat.hpp>

#include "catalog_v2.hpp"

namespace ovseg::world::v2 {

struct Pose {
  cv::Point2d centre;
  double r = 10;        // half the object's size, in pixels
  double rotation = 0;  // radians
  bool mirror = false;  // flipped left-right before rotating
  bool door = true;     // houses: with a door (captions then tell houses apart by it)
};

// One painted piece of an object. Layers are painted in order, later over
// earlier; every pixel of every layer belongs to the object's instance.
struct Layer {
  int cls;                   // the object's class, or one of its parts' classes
  cv::Mat mask;              // CV_8UC1, image-sized, 255 inside (no anti-aliasing)
  std::optional<Look> look;  // a fixed look (a flower's yellow centre); none: the class's look
  cv::Point2d centre;        // where rings are centred (a lollipop's candy)
  bool aligned = false;      // the pattern follows the object's axis (a bee's stripes)
};

// The layers of object class `cls` (an Object of catalog()) at `pose`.
std::vector<Layer> draw_object(int cls, cv::Size image_size, const Pose& pose);

// Objects that stand upright (a house, a tree) are only tilted a little;
// the others (animals, toys) lie at any angle.
bool stands_upright(int cls);

}  // namespace ovseg::world::v2
