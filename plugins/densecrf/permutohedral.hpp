// Permutohedral lattice (Adams, Baek & Davis, "Fast High-Dimensional Filtering
// Using the Permutohedral Lattice", Eurographics 2010), as used by Krähenbühl &
// Koltun's densecrf code (the code pydensecrf wraps): each d-dimensional feature
// is splatted onto the d+1 vertices of its enclosing simplex with barycentric
// weights, the lattice values are blurred with [1/2, 1, 1/2] along each of the
// d+1 lattice directions, and the result is sliced back with the same weights.
//
// compute(out, in) approximates  out_i = sum_j exp(-|f_i - f_j|^2 / 2) in_j
// (the point itself included), i.e. a Gaussian of unit standard deviation in
// feature space: callers scale features by 1/theta. Same elevation, rounding,
// hash key and `alpha` constant as densecrf's Permutohedral::seqCompute, so
// the numbers match pydensecrf up to float summation order.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <vector>

namespace ovseg::densecrf {

// Features (already divided by their theta) too large for the lattice's
// 16-bit keys; callers that know which parameters scaled them rethrow.
struct LatticeOverflow : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

class PermutohedralLattice {
 public:
  // features: N points of dimension d, point-major (features[i*d + c]).
  // d must be in 1..15 (keys are int16 and the lattice is exponential in d).
  PermutohedralLattice(const float* features, int64_t n_points, int dim);

  // out, in: N x value_size, point-major. out may alias in. Work is split
  // over lattice vertices / points across ATen's intra-op threads. `scratch` (grown
  // to 2 x (lattice points + 1) x value_size floats) can be kept by the
  // caller across calls and images: at 512x512 it is ~100 MB, and fresh
  // pages cost more than the filtering.
  void compute(float* out, const float* in, int64_t value_size, std::vector<float>& scratch) const;
  void compute(float* out, const float* in, int64_t value_size) const;

  int64_t num_lattice_points() const { return m_; }
  int dim() const { return d_; }

 private:
  int64_t n_ = 0;  // input points
  int64_t m_ = 0;  // lattice vertices in use
  int d_ = 0;
  // Per point, its d+1 simplex vertices: lattice index (+1: 0 is the zero
  // "missing neighbour" slot) and barycentric weight.
  std::vector<int32_t> offset_;
  std::vector<float> barycentric_;
  // Per direction j (0..d) and vertex i: the two neighbours along j (+1
  // shifted like offset_, 0 when absent).
  std::vector<int32_t> blur_n1_, blur_n2_;
  // The splat transposed: vertex v receives points splat_point_[e] with
  // weights splat_weight_[e] for e in [vertex_start_[v], vertex_start_[v+1]).
  std::vector<int64_t> vertex_start_;
  std::vector<int32_t> splat_point_;
  std::vector<float> splat_weight_;
};

}  // namespace ovseg::densecrf
