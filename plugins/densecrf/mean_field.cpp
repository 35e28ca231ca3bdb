// Mean-field inference of the fully connected CRF: see mean_field.hpp.
#include "mean_field.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

namespace ovseg::densecrf {

namespace {

// Q_i = softmax(energy_i) over labels, row by row (densecrf's expAndNormalize).
void exp_and_normalize(float* q, const float* energy, int64_t n, int64_t l) {
  at::parallel_for(0, n, 4096, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float* x = energy + i * l;
      float* y = q + i * l;
      const float mx = *std::max_element(x, x + l);
      float s = 0;
      for (int64_t k = 0; k < l; ++k) s += (y[k] = std::exp(x[k] - mx));
      const float inv = 1.0f / s;
      for (int64_t k = 0; k < l; ++k) y[k] *= inv;
    }
  });
}

}  // namespace

Kernel make_kernel(const float* features, int64_t n_points, int dim, std::vector<float> label_weight) {
  Kernel k;
  k.lattice = std::make_unique<PermutohedralLattice>(features, n_points, dim);
  k.label_weight = std::move(label_weight);
  std::vector<float> ones(n_points, 1.f);
  k.norm.resize(n_points);
  k.lattice->compute(k.norm.data(), ones.data(), 1);
  for (float& v : k.norm) v = 1.0f / std::sqrt(v + 1e-20f);
  return k;
}

std::vector<float> mean_field(const float* unary, int64_t n, int64_t l, const std::vector<Kernel>& kernels,
                              int iterations, std::vector<float>& scratch) {
  const size_t size = static_cast<size_t>(n) * l;
  std::vector<float> q(size), energy(size), scaled(size);
  for (size_t i = 0; i < size; ++i) energy[i] = -unary[i];
  exp_and_normalize(q.data(), energy.data(), n, l);
  for (int it = 0; it < iterations; ++it) {
    for (size_t i = 0; i < size; ++i) energy[i] = -unary[i];
    for (const Kernel& k : kernels) {
      // n ⊙ G(n ⊙ Q), then the label compatibility.
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < l; ++c) scaled[i * l + c] = k.norm[i] * q[i * l + c];
      k.lattice->compute(scaled.data(), scaled.data(), l, scratch);
      const float* w = k.label_weight.data();
      for (int64_t i = 0; i < n; ++i) {
        const float ni = k.norm[i];
        for (int64_t c = 0; c < l; ++c) energy[i * l + c] += w[c] * ni * scaled[i * l + c];
      }
    }
    exp_and_normalize(q.data(), energy.data(), n, l);
  }
  return q;
}

}  // namespace ovseg::densecrf
