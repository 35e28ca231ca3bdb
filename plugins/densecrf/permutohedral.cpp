// Permutohedral lattice: see permutohedral.hpp. Comments cite the pages of
// Adams et al. 2010 the steps come from.
#include "permutohedral.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <stdexcept>
#include <string>

namespace ovseg::densecrf {

namespace {

constexpr int64_t kPrefetch = 8;  // rows requested ahead in the scattered loops

// Open-addressing hash table from int16 lattice keys (d coordinates; the
// (d+1)-th is implied because coordinates sum to 0) to dense vertex indices,
// numbered in first-insertion order as in densecrf's HashTable.
class KeyTable {
 public:
  KeyTable(int key_size, int64_t expected) : key_size_(key_size) {
    capacity_ = 16;
    shift_ = 60;
    while (capacity_ < 2 * expected) capacity_ *= 2, --shift_;
    table_.assign(capacity_, -1);
    keys_.reserve(static_cast<size_t>(expected) * key_size_);
  }
  int64_t size() const { return filled_; }
  const int16_t* key(int64_t i) const { return &keys_[static_cast<size_t>(i) * key_size_]; }

  // Index of `k`, inserting it when absent.
  int32_t insert(const int16_t* k) {
    if (2 * (filled_ + 1) > capacity_) grow();
    size_t h = slot(k);
    if (table_[h] >= 0) return table_[h];
    keys_.insert(keys_.end(), k, k + key_size_);
    return table_[h] = static_cast<int32_t>(filled_++);
  }
  // Index of `k`, or -1; safe to call from several threads.
  int32_t lookup(const int16_t* k) const { return table_[slot(k)]; }

 private:
  // The slot holding `k`, or the empty slot where it would go.
  size_t slot(const int16_t* k) const {
    size_t h = bucket(k);
    while (true) {
      const int32_t e = table_[h];
      if (e < 0) return h;
      const int16_t* ke = key(e);
      int i = 0;
      while (i < key_size_ && ke[i] == k[i]) ++i;  // (std::equal calls memcmp here)
      if (i == key_size_) return h;
      h = (h + 1) & (capacity_ - 1);
    }
  }
  // densecrf's hash mixes the low bits poorly (lattice coordinates share
  // residues mod d+1), so take the top bits of a Fibonacci multiply instead
  // of `hash % capacity`.
  size_t bucket(const int16_t* k) const {
    return static_cast<size_t>((static_cast<uint64_t>(hash(k)) * 0x9E3779B97F4A7C15ull) >> shift_);
  }
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
    --shift_;
    table_.assign(capacity_, -1);
    for (int64_t e = 0; e < filled_; ++e) {
      size_t h = bucket(key(e));
      while (table_[h] >= 0) h = (h + 1) & (capacity_ - 1);
      table_[h] = static_cast<int32_t>(e);
    }
  }

  int key_size_;
  int64_t capacity_ = 0, filled_ = 0;  // capacity_ = 2^(64 - shift_)
  int shift_ = 60;
  std::vector<int32_t> table_;
  std::vector<int16_t> keys_;
};

// Elevated coordinates are rounded to the nearest multiple of d+1; within this
// bound the rounded value still fits the int16 cast (the tighter check on the
// rounded keys follows it).
constexpr int kKeyLimit = 32767;
bool fits_int16_keys(const float* elevated, int d1) {
  for (int i = 0; i < d1; ++i)
    if (!(std::abs(elevated[i]) <= static_cast<float>(kKeyLimit - d1))) return false;
  return true;
}

}  // namespace

PermutohedralLattice::PermutohedralLattice(const float* features, int64_t n_points, int dim) : n_(n_points), d_(dim) {
  if (dim < 1 || dim > 15)
    throw std::invalid_argument("permutohedral lattice: feature dimension " + std::to_string(dim) + " outside 1..15");
  const int d = d_, d1 = d_ + 1;
  offset_.assign(static_cast<size_t>(n_) * d1, 0);
  barycentric_.assign(static_cast<size_t>(n_) * d1, 0.f);

  std::vector<int16_t> canonical(static_cast<size_t>(d1) * d1);
  // The canonical simplex (p.4): vertex `r` has coordinates r - (d+1)*[i > d-r].
  for (int r = 0; r <= d; ++r) {
    for (int j = 0; j <= d - r; ++j) canonical[r * d1 + j] = static_cast<int16_t>(r);
    for (int j = d - r + 1; j <= d; ++j) canonical[r * d1 + j] = static_cast<int16_t>(r - d1);
  }
  // Diagonal of the elevation matrix E (p.5), scaled so that the lattice's
  // blur matches a unit-variance Gaussian (p.6).
  std::vector<float> scale(d);
  const float inv_std_dev = std::sqrt(2.0 / 3.0) * d1;
  for (int i = 0; i < d; ++i) scale[i] = 1.0 / std::sqrt(double((i + 2) * (i + 1))) * inv_std_dev;
  const float down_factor = 1.0f / d1, up_factor = static_cast<float>(d1);

  // Phase 1, independent per point (parallel): the keys of the d+1 simplex
  // vertices and their barycentric weights.
  std::vector<int16_t> keys(static_cast<size_t>(n_) * d1 * d);
  std::atomic<bool> overflow{false};
  at::parallel_for(0, n_, 2048, [&](int64_t begin, int64_t end) {
    std::vector<float> elevated(d1), rem0(d1), bary(d1 + 1);
    std::vector<int16_t> rank(d1);
    for (int64_t k = begin; k < end; ++k) {
      const float* f = features + k * d;
      // Elevate onto the hyperplane sum(x) = 0 in d+1 dimensions: y = E f.
      float sm = 0;
      for (int j = d; j > 0; --j) {
        const float cf = f[j - 1] * scale[j - 1];
        elevated[j] = sm - j * cf;
        sm += cf;
      }
      elevated[0] = sm;
      // Points beyond the int16 key range (or NaN) are refused here, before
      // rounding: their ranks would index outside `bary` below.
      if (!fits_int16_keys(elevated.data(), d1)) {
        overflow = true;
        continue;
      }
      // Nearest remainder-0 lattice point, coordinate by coordinate.
      int sum = 0;
      for (int i = 0; i <= d; ++i) {
        const float v = down_factor * elevated[i];
        const float up = std::ceil(v) * up_factor, down = std::floor(v) * up_factor;
        const int rd = (up - elevated[i] < elevated[i] - down) ? static_cast<int16_t>(up) : static_cast<int16_t>(down);
        rem0[i] = static_cast<float>(rd);
        sum += rd * down_factor;  // int += float, truncating, as densecrf does
      }
      // Rank of each coordinate of the residual: which simplex we are in.
      std::fill(rank.begin(), rank.end(), 0);
      for (int i = 0; i < d; ++i) {
        const double di = elevated[i] - rem0[i];
        for (int j = i + 1; j <= d; ++j) {
          if (di < elevated[j] - rem0[j])
            ++rank[i];
          else
            ++rank[j];
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
      for (int i = 0; i <= d; ++i)
        if (std::abs(rem0[i]) > kKeyLimit - 2 * d1) overflow = true;
      // The d+1 vertices of the simplex.
      for (int r = 0; r <= d; ++r) {
        int16_t* key = &keys[(static_cast<size_t>(k) * d1 + r) * d];
        for (int i = 0; i < d; ++i) key[i] = static_cast<int16_t>(rem0[i] + canonical[r * d1 + rank[i]]);
        barycentric_[k * d1 + r] = bary[r];
      }
    }
  });

  if (overflow)
    throw LatticeOverflow(
        "permutohedral lattice: features too large for 16-bit lattice keys (elevated "
        "coordinates beyond +-" +
        std::to_string(kKeyLimit) + "); use larger kernel standard deviations");

  // Phase 2 (serial): number the vertices in first-seen order, like densecrf.
  KeyTable table(d, n_ * d1 / 3 + 16);
  for (int64_t e = 0; e < n_ * d1; ++e) offset_[e] = table.insert(&keys[e * d]) + 1;
  m_ = table.size();
  keys.clear();
  keys.shrink_to_fit();

  // The splat transposed (counting sort by vertex): per vertex, the points
  // and weights that land on it, so splatting is a race-free gather.
  vertex_start_.assign(m_ + 1, 0);
  for (int64_t e = 0; e < n_ * d1; ++e) ++vertex_start_[offset_[e]];  // offset_ is vertex + 1
  for (int64_t v = 0; v < m_; ++v) vertex_start_[v + 1] += vertex_start_[v];
  splat_point_.resize(n_ * d1);
  splat_weight_.resize(n_ * d1);
  {
    std::vector<int64_t> fill(vertex_start_.begin(), vertex_start_.end() - 1);
    for (int64_t e = 0; e < n_ * d1; ++e) {
      const int64_t slot = fill[offset_[e] - 1]++;
      splat_point_[slot] = static_cast<int32_t>(e / d1);
      splat_weight_[slot] = barycentric_[e];
    }
  }

  // Phase 3 (parallel, read-only lookups): the neighbour along each lattice
  // direction j, the key moved by +d along j and -1 elsewhere. The opposite
  // neighbour is the inverse relation (n2(n1(v)) = v), so only n1 is looked
  // up: hash probes are cache misses and dominate building the lattice.
  blur_n1_.assign(static_cast<size_t>(d1) * m_, 0);
  blur_n2_.assign(static_cast<size_t>(d1) * m_, 0);
  at::parallel_for(0, m_, 4096, [&](int64_t begin, int64_t end) {
    std::vector<int16_t> n1(d);
    for (int j = 0; j <= d; ++j) {
      for (int64_t i = begin; i < end; ++i) {
        const int16_t* k = table.key(i);
        for (int c = 0; c < d; ++c) n1[c] = static_cast<int16_t>(k[c] - 1);
        if (j < d) n1[j] = static_cast<int16_t>(k[j] + d);  // the (d+1)-th coordinate is implicit
        const int32_t n = table.lookup(n1.data());
        blur_n1_[j * m_ + i] = n + 1;
        if (n >= 0) blur_n2_[j * m_ + n] = static_cast<int32_t>(i + 1);  // n1 is one-to-one
      }
    }
  });
}

void PermutohedralLattice::compute(float* out, const float* in, int64_t value_size) const {
  std::vector<float> scratch;
  compute(out, in, value_size, scratch);
}

void PermutohedralLattice::compute(float* out, const float* in, int64_t value_size, std::vector<float>& scratch) const {
  const int d1 = d_ + 1;
  const int64_t vs = value_size;
  // densecrf's "magic scaling constant": the slice of a blurred splat of a
  // delta has this gain.
  const float alpha = 1.0f / (1 + std::pow(2.0f, static_cast<float>(-d_)));
  // Two lattice-sized buffers, row 0 of each the zero "missing neighbour".
  // Every step writes each row (or output point) from one thread only, so
  // the work splits over rows: splat gathers each vertex's contributions
  // (the transposed splat), blur is a Jacobi step, slice is per point.
  const size_t rows = static_cast<size_t>(m_ + 1);
  if (scratch.size() < 2 * rows * vs) scratch.resize(2 * rows * vs);
  float* values = scratch.data();
  float* blurred = values + rows * vs;
  std::fill(values, values + vs, 0.f);
  std::fill(blurred, blurred + vs, 0.f);
  // Splat.
  at::parallel_for(0, m_, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t v = begin; v < end; ++v) {
      float* dst = values + (v + 1) * vs;
      for (int64_t k = 0; k < vs; ++k) dst[k] = 0.f;
      for (int64_t e = vertex_start_[v]; e < vertex_start_[v + 1]; ++e) {
        if (e + kPrefetch < static_cast<int64_t>(splat_point_.size()))
          __builtin_prefetch(in + static_cast<int64_t>(splat_point_[e + kPrefetch]) * vs);
        const float* src = in + static_cast<int64_t>(splat_point_[e]) * vs;
        const float b = splat_weight_[e];
        for (int64_t k = 0; k < vs; ++k) dst[k] += b * src[k];
      }
    }
  });
  // Blur along each of the d+1 directions with [1/2, 1, 1/2].
  for (int j = 0; j <= d_; ++j) {
    const int32_t* n1 = blur_n1_.data() + j * m_;
    const int32_t* n2 = blur_n2_.data() + j * m_;
    at::parallel_for(0, m_, 1024, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        // The neighbours are scattered over a buffer far larger than the
        // cache: request rows a few iterations ahead (a row may span 2 lines).
        if (i + kPrefetch < end) {
          const float* pa = values + static_cast<int64_t>(n1[i + kPrefetch]) * vs;
          const float* pb = values + static_cast<int64_t>(n2[i + kPrefetch]) * vs;
          __builtin_prefetch(pa);
          __builtin_prefetch(pa + vs - 1);
          __builtin_prefetch(pb);
          __builtin_prefetch(pb + vs - 1);
        }
        const float* old_v = values + (i + 1) * vs;
        const float* a = values + static_cast<int64_t>(n1[i]) * vs;
        const float* b = values + static_cast<int64_t>(n2[i]) * vs;
        float* new_v = blurred + (i + 1) * vs;
        for (int64_t k = 0; k < vs; ++k) new_v[k] = old_v[k] + 0.5f * (a[k] + b[k]);
      }
    });
    std::swap(values, blurred);
  }
  // Slice.
  at::parallel_for(0, n_, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      float* dst = out + i * vs;
      for (int64_t k = 0; k < vs; ++k) dst[k] = 0.f;
      if (i + 4 < end)
        for (int r = 0; r < d1; ++r) {
          const float* pf = values + static_cast<int64_t>(offset_[(i + 4) * d1 + r]) * vs;
          __builtin_prefetch(pf);
          __builtin_prefetch(pf + vs - 1);
        }
      for (int r = 0; r < d1; ++r) {
        const float* src = values + static_cast<int64_t>(offset_[i * d1 + r]) * vs;
        const float b = barycentric_[i * d1 + r] * alpha;
        for (int64_t k = 0; k < vs; ++k) dst[k] += b * src[k];
      }
    }
  });
}

}  // namespace ovseg::densecrf
