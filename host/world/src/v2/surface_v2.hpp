// Internal: world v2's pixels: stuff textures and two-tone thing surfaces.
#pragma once

#include <opencv2/core/mat.hpp>

#include "../common/rng.hpp"
#include "catalog_v2.hpp"

namespace ovseg::world::v2 {

// A whole w x h canvas (BGR) of stuff class `cls`; the layout decides which
// pixels show it.
cv::Mat stuff_texture(int cls, int w, int h, Rng& rng);

// Paints `look` onto `image` where `mask` (CV_8UC1, image-sized) is set: the
// colour, jittered, with the pattern in the pattern colour at a random
// period and phase, plus fine noise. `angle` orients stripes, checks, grids
// and dot lattices; rings are centred on `centre`.
void paint_surface(cv::Mat& image, const cv::Mat& mask, const Look& look, cv::Point2d centre, double angle, Rng& rng);

}  // namespace ovseg::world::v2
