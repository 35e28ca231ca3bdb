// Internal: the stuff textures of world v1 (grass, water, sand), which world
// v2 reuses. Frozen for the same reason as rng.hpp.
#pragma once

#include <opencv2/core/mat.hpp>

#include "rng.hpp"

namespace ovseg::world {

// The base colour (BGR) plus per-pixel noise n = uniform(-amplitude,
// amplitude), scaled per channel by `gain`; one draw per pixel, row-major.
cv::Mat noisy_canvas(int w, int h, const cv::Vec3d& base, const cv::Vec3d& gain, double amplitude, Rng& rng);

// Each fills a whole w x h canvas (BGR); the layout decides which pixels show it.
cv::Mat grass_texture(int w, int h, Rng& rng);
cv::Mat water_texture(int w, int h, Rng& rng);
cv::Mat sand_texture(int w, int h, Rng& rng);

}  // namespace ovseg::world
