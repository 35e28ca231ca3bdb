// Mean-field inference for the fully connected CRF of Krähenbühl & Koltun,
// "Efficient Inference in Fully Connected CRFs with Gaussian Edge Potentials"
// (NIPS 2011), following their densecrf code (DenseCRF::inference):
//
//   Q   = softmax(-U)
//   repeat: Q = softmax(-U + sum_m  w_m[l] * n_m ⊙ G_m(n_m ⊙ Q))
//
// where G_m is the Gaussian filter of kernel m (a permutohedral lattice over
// the kernel's features, the point itself included) and n_m = 1/sqrt(G_m(1))
// is densecrf's NORMALIZE_SYMMETRIC normalisation (pydensecrf's default).
// With one weight w_m for every label this is densecrf's PottsCompatibility(w_m)
// (its message is -w Q, i.e. Potts up to a per-pixel constant). A weight per
// label l is densecrf's DiagonalCompatibility: label l is rewarded by
// w_m[l] times the (normalised) kernel mass of pixels that hold l, which is
// the symmetric pairwise potential  mu(l,l') = -w_m[l] [l = l'].
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "permutohedral.hpp"

namespace ovseg::densecrf {

struct Kernel {
  std::unique_ptr<PermutohedralLattice> lattice;
  std::vector<float> norm;          // n_m, one per point
  std::vector<float> label_weight;  // w_m[l], one per label
};

// features: N x dim, point-major, already divided by the kernel's thetas.
Kernel make_kernel(const float* features, int64_t n_points, int dim, std::vector<float> label_weight);

// unary: N x L energies (-log p), point-major. Returns Q, N x L, point-major.
// `scratch`: lattice filtering memory, reusable across calls (see
// PermutohedralLattice::compute).
std::vector<float> mean_field(const float* unary, int64_t n_points, int64_t n_labels,
                              const std::vector<Kernel>& kernels, int iterations, std::vector<float>& scratch);

}  // namespace ovseg::densecrf
