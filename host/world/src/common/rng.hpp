// Internal: the world's random numbers and pixel helpers, shared by every
// world version. Frozen: world v1's pixels depend on every line here (its
// hash is pinned by tests/embedded/test_world_v1.cpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>

#include <opencv2/core/matx.hpp>

namespace ovseg::world {

inline constexpr double kPi = 3.14159265358979323846;

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

inline cv::Vec3b clamp_bgr(double b, double g, double r) {
  auto c = [](double v) { return static_cast<uchar>(std::clamp(v, 0.0, 255.0)); };
  return {c(b), c(g), c(r)};
}

}  // namespace ovseg::world
