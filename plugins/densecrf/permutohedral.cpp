// Permutohedral lattice: see permutohedral.hpp. Comments cite the pages of
// Adams et al. 2010 the steps come from.
#include "permutohedral.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace ovseg::densecrf {

namespace {

// Open-addressing hash table from int16 lattice keys (d coordinates; the
// (d+1)-th is implied because coordinates sum to 0) to dense vertex indices.
// Same hash function and linear probing as densecrf's HashTable.
class KeyTable {
 public:
  KeyTable(int key_size, int64_t expected) : key_size_(key_size) {
    capacity_ = 16;
    while (capacity_ < 2 * expected) capacity_ *= 2;
    table_.assign(capacity_, -1);
    keys_.reserve(static_cast<size_t>(expected) * key_size_);
  }
  int64_t size() const { return filled_; }
  const int16_t* key(int64_t i) const { return &keys_[static_cast<size_t>(i) * key_size_]; }

  // Index of `k`; inserts it when `create`, else -1 when absent.
  int32_t find(const int16_t* k, bool create) {
    if (create && 2 * (filled_ + 1) > capacity_) grow();
    size_t h = hash(k) & (capacity_ - 1);
    while (true) {
      const int32_t e = table_[h];
      if (e < 0) {
        if (!create) return -1;
        keys_.insert(keys_.end(), k, k + key_size_);
        return table_[h] = static_cast<int32_t>(filled_++);
      }
      if (std::equal(k, k + key_size_, key(e))) return e;
      h = (h + 1) & (capacity_ - 1);
    }
  }

 private:
  size_t hash(const int16_t* k) const {
    size_t r = 0;
    for (int i = 0; i < key_size_; ++i) {
      r += static_cast<size_t>(static_cast<int64_t>(k[i]));
      r *= 1664525;
    }
    return r;
  }
  void grow() {
    capacity_ *= 2;
    table_.assign(capacity_, -1);
    for (int64_t e = 0; e < filled_; ++e) {
      size_t h = hash(key(e)) & (capacity_ - 1);
      while (table_[h] >= 0) h = (h + 1) & (capacity_ - 1);
      table_[h] = static_cast<int32_t>(e);
    }
  }

  int key_size_;
  int64_t capacity_ = 0, filled_ = 0;  // capacity_ is a power of two
  std::vector<int32_t> table_;
  std::vector<int16_t> keys_;
};

}  // namespace

PermutohedralLattice::PermutohedralLattice(const float* features, int64_t n_points, int dim)
    : n_(n_points), d_(dim) {
  if (dim < 1 || dim > 15)
    throw std::invalid_argument("permutohedral lattice: feature dimension " + std::to_string(dim) +
                                " outside 1..15");
  const int d = d_, d1 = d_ + 1;
  offset_.assign(static_cast<size_t>(n_) * d1, 0);
  barycentric_.assign(static_cast<size_t>(n_) * d1, 0.f);
  KeyTable table(d, n_ * d1 / 4 + 16);

  std::vector<float> scale(d), elevated(d1), rem0(d1), bary(d1 + 1);
  std::vector<int16_t> rank(d1), key(d1), canonical(static_cast<size_t>(d1) * d1);
  // The canonical simplex (p.4): vertex `r` has coordinates r - (d+1)*[i > d-r].
  for (int r = 0; r <= d; ++r) {
    for (int j = 0; j <= d - r; ++j) canonical[r * d1 + j] = static_cast<int16_t>(r);
    for (int j = d - r + 1; j <= d; ++j) canonical[r * d1 + j] = static_cast<int16_t>(r - d1);
  }
  // Diagonal of the elevation matrix E (p.5), scaled so that the lattice's
  // blur matches a unit-variance Gaussian (p.6).
  const float inv_std_dev = std::sqrt(2.0 / 3.0) * d1;
  for (int i = 0; i < d; ++i) scale[i] = 1.0 / std::sqrt(double((i + 2) * (i + 1))) * inv_std_dev;

  const float down_factor = 1.0f / d1, up_factor = static_cast<float>(d1);
  for (int64_t k = 0; k < n_; ++k) {
    const float* f = features + k * d;
    // Elevate onto the hyperplane sum(x) = 0 in d+1 dimensions: y = E f.
    float sm = 0;
    for (int j = d; j > 0; --j) {
      const float cf = f[j - 1] * scale[j - 1];
      elevated[j] = sm - j * cf;
      sm += cf;
    }
    elevated[0] = sm;
    // Nearest remainder-0 lattice point, coordinate by coordinate.
    int sum = 0;
    for (int i = 0; i <= d; ++i) {
      const float v = down_factor * elevated[i];
      const float up = std::ceil(v) * up_factor, down = std::floor(v) * up_factor;
      const int rd = (up - elevated[i] < elevated[i] - down) ? static_cast<int16_t>(up)
                                                             : static_cast<int16_t>(down);
      rem0[i] = static_cast<float>(rd);
      sum += rd * down_factor;  // int += float, truncating, as densecrf does
    }
    // Rank of each coordinate of the residual: which simplex we are in.
    std::fill(rank.begin(), rank.end(), 0);
    for (int i = 0; i < d; ++i) {
      const double di = elevated[i] - rem0[i];
      for (int j = i + 1; j <= d; ++j) {
        if (di < elevated[j] - rem0[j]) ++rank[i];
        else ++rank[j];
      }
    }
    // Bring the rounded point back onto the plane when its coordinates do not sum to 0.
    for (int i = 0; i <= d; ++i) {
      rank[i] = static_cast<int16_t>(rank[i] + sum);
      if (rank[i] < 0) {
        rank[i] = static_cast<int16_t>(rank[i] + d1);
        rem0[i] += d1;
      } else if (rank[i] > d) {
        rank[i] = static_cast<int16_t>(rank[i] - d1);
        rem0[i] -= d1;
      }
    }
    // Barycentric coordinates (p.10).
    std::fill(bary.begin(), bary.end(), 0.f);
    for (int i = 0; i <= d; ++i) {
      const float v = (elevated[i] - rem0[i]) * down_factor;
      bary[d - rank[i]] += v;
      bary[d - rank[i] + 1] -= v;
    }
    bary[0] += 1.0f + bary[d + 1];
    // The d+1 vertices of the simplex.
    for (int r = 0; r <= d; ++r) {
      for (int i = 0; i < d; ++i)
        key[i] = static_cast<int16_t>(rem0[i] + canonical[r * d1 + rank[i]]);
      offset_[k * d1 + r] = table.find(key.data(), true) + 1;
      barycentric_[k * d1 + r] = bary[r];
    }
  }
  m_ = table.size();

  // Neighbours along each lattice direction j: the key moved by +d along j
  // and -1 elsewhere, and the opposite.
  blur_n1_.assign(static_cast<size_t>(d1) * m_, 0);
  blur_n2_.assign(static_cast<size_t>(d1) * m_, 0);
  std::vector<int16_t> n1(d1), n2(d1);
  for (int j = 0; j <= d; ++j) {
    for (int64_t i = 0; i < m_; ++i) {
      const int16_t* k = table.key(i);
      for (int c = 0; c < d; ++c) {
        n1[c] = static_cast<int16_t>(k[c] - 1);
        n2[c] = static_cast<int16_t>(k[c] + 1);
      }
      if (j < d) {  // the (d+1)-th coordinate is not stored in the key
        n1[j] = static_cast<int16_t>(k[j] + d);
        n2[j] = static_cast<int16_t>(k[j] - d);
      }
      blur_n1_[j * m_ + i] = table.find(n1.data(), false) + 1;
      blur_n2_[j * m_ + i] = table.find(n2.data(), false) + 1;
    }
  }
}

void PermutohedralLattice::compute(float* out, const float* in, int64_t value_size) const {
  const int d1 = d_ + 1;
  // densecrf's "magic scaling constant": the slice of a blurred splat of a
  // delta has this gain.
  const float alpha = 1.0f / (1 + std::pow(2.0f, static_cast<float>(-d_)));
  // Each thread owns a contiguous range of value components and its own
  // compact lattice buffers (row 0 stays zero: the missing neighbour).
  at::parallel_for(0, value_size, 4, [&](int64_t k0, int64_t k1) {
    const int64_t w = k1 - k0;
    std::vector<float> values(static_cast<size_t>(m_ + 1) * w, 0.f), blurred(values.size(), 0.f);
    // Splat.
    for (int64_t i = 0; i < n_; ++i) {
      const float* src = in + i * value_size + k0;
      for (int r = 0; r < d1; ++r) {
        float* dst = values.data() + static_cast<size_t>(offset_[i * d1 + r]) * w;
        const float b = barycentric_[i * d1 + r];
        for (int64_t k = 0; k < w; ++k) dst[k] += b * src[k];
      }
    }
    // Blur along each of the d+1 directions with [1/2, 1, 1/2].
    for (int j = 0; j <= d_; ++j) {
      const int32_t* n1 = blur_n1_.data() + j * m_;
      const int32_t* n2 = blur_n2_.data() + j * m_;
      for (int64_t i = 0; i < m_; ++i) {
        const float* old_v = values.data() + (i + 1) * w;
        const float* a = values.data() + static_cast<size_t>(n1[i]) * w;
        const float* b = values.data() + static_cast<size_t>(n2[i]) * w;
        float* new_v = blurred.data() + (i + 1) * w;
        for (int64_t k = 0; k < w; ++k) new_v[k] = old_v[k] + 0.5f * (a[k] + b[k]);
      }
      values.swap(blurred);
    }
    // Slice.
    for (int64_t i = 0; i < n_; ++i) {
      float* dst = out + i * value_size + k0;
      for (int64_t k = 0; k < w; ++k) dst[k] = 0.f;
      for (int r = 0; r < d1; ++r) {
        const float* src = values.data() + static_cast<size_t>(offset_[i * d1 + r]) * w;
        const float b = barycentric_[i * d1 + r] * alpha;
        for (int64_t k = 0; k < w; ++k) dst[k] += b * src[k];
      }
    }
  });
}

}  // namespace ovseg::densecrf
