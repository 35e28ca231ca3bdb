#include "cluster_ops.hpp"

#include <algorithm>
#include <stdexcept>

namespace ovseg::training_free {

std::vector<int64_t> dbscan(const at::Tensor& points, double eps, int64_t min_samples) {
  if (points.dim() != 2) throw std::invalid_argument("dbscan: expected (n, dim) points");
  const int64_t n = points.size(0);
  // Direct (not matmul-expanded) distances, so points exactly at eps fall on
  // the same side as sklearn's.
  at::Tensor pts = points.to(at::kDouble).contiguous();
  at::Tensor d = at::cdist(pts, pts, 2.0, /*compute_mode: donot_use_mm_for_euclid_dist*/ 2).contiguous();
  const double* dp = d.data_ptr<double>();
  std::vector<std::vector<int64_t>> nbrs(n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      if (dp[i * n + j] <= eps) nbrs[i].push_back(j);
  std::vector<char> core(n);
  for (int64_t i = 0; i < n; ++i) core[i] = static_cast<int64_t>(nbrs[i].size()) >= min_samples;

  // sklearn's dbscan_inner: depth-first expansion from each unlabelled core.
  std::vector<int64_t> labels(n, -1), stack;
  int64_t next = 0;
  for (int64_t i0 = 0; i0 < n; ++i0) {
    if (labels[i0] != -1 || !core[i0]) continue;
    int64_t i = i0;
    while (true) {
      if (labels[i] == -1) {
        labels[i] = next;
        if (core[i])
          for (int64_t v : nbrs[i])
            if (labels[v] == -1) stack.push_back(v);
      }
      if (stack.empty()) break;
      i = stack.back();
      stack.pop_back();
    }
    ++next;
  }
  return labels;
}

namespace {
int64_t reflect(int64_t i, int64_t n) {
  // scipy 'reflect': -1 -> 0, -2 -> 1, n -> n-1, repeated for far indices.
  while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - 1 - i;
  return i;
}
}  // namespace

// A sliding-window median over ranks: every pixel gets its rank in the
// sorted map, the window is a count per rank, and the median rank is walked
// from the previous pixel's. A step right swaps one column of the window
// (2 * size updates) instead of re-selecting size^2 values, so cost grows
// as size (not size^2) per pixel: CLIPtrase's ratio-64 vote filters
// ~1M-pixel maps with 127x127 windows. The median is a value of the map,
// so the result equals a selection's exactly.
namespace {

// rank[i]: position of pixel i in the map sorted by value (ties by index).
std::vector<int32_t> value_ranks(const float* s, int64_t n) {
  std::vector<int32_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = static_cast<int32_t>(i);
  std::stable_sort(order.begin(), order.end(), [s](int32_t a, int32_t b) { return s[a] < s[b]; });
  std::vector<int32_t> rank(n);
  for (int64_t r = 0; r < n; ++r) rank[order[r]] = static_cast<int32_t>(r);
  return rank;
}

// Multiset of ranks with the k-th smallest tracked incrementally. Counts
// are kept per rank and per block of 64 ranks, so the walk from one median
// to the next skips empty stretches of the (dense, global) rank range.
class RankWindow {
 public:
  explicit RankWindow(int64_t n_ranks) : count_(n_ranks + 1, 0), block_(n_ranks / kBlock + 2, 0) {}
  void add(int32_t r) { ++count_[r], ++block_[r / kBlock], below_ += r < cur_; }
  void remove(int32_t r) { --count_[r], --block_[r / kBlock], below_ -= r < cur_; }
  // The k-th smallest rank (0-based), walked from the previous answer.
  int32_t kth(int64_t k) {
    while (below_ > k) {
      if (cur_ % kBlock == 0 && below_ - block_[cur_ / kBlock - 1] > k)
        below_ -= block_[cur_ / kBlock - 1], cur_ -= kBlock;
      else
        below_ -= count_[--cur_];
    }
    while (below_ + count_[cur_] <= k) {
      if (cur_ % kBlock == 0 && below_ + block_[cur_ / kBlock] <= k)
        below_ += block_[cur_ / kBlock], cur_ += kBlock;
      else
        below_ += count_[cur_++];
    }
    return cur_;
  }

 private:
  static constexpr int32_t kBlock = 64;
  std::vector<int32_t> count_, block_;
  int32_t cur_ = 0;    // candidate rank
  int64_t below_ = 0;  // window entries with rank < cur_
};

}  // namespace

at::Tensor median_filter(const at::Tensor& img, int64_t size) {
  if (img.dim() != 2 || size < 1 || size % 2 == 0)
    throw std::invalid_argument("median_filter: expected a (h, w) map and an odd size");
  at::Tensor src = img.to(at::kFloat).contiguous();
  const int64_t h = src.size(0), w = src.size(1), r = size / 2;
  at::Tensor out = at::empty_like(src);
  if (h * w == 0) return out;
  const float* s = src.data_ptr<float>();
  float* o = out.data_ptr<float>();
  std::vector<int64_t> ry(h + 2 * r), rx(w + 2 * r);  // reflected indices
  for (int64_t i = -r; i < h + r; ++i) ry[i + r] = reflect(i, h);
  for (int64_t j = -r; j < w + r; ++j) rx[j + r] = reflect(j, w);
  const std::vector<int32_t> rank = value_ranks(s, h * w);
  std::vector<float> by_rank(h * w);
  for (int64_t i = 0; i < h * w; ++i) by_rank[rank[i]] = s[i];
  const int64_t k = (size * size) / 2;  // scipy's rank size*size // 2
  RankWindow win(h * w);
  auto column = [&](int64_t y, int64_t cx, bool add) {  // window column at padded x `cx`
    for (int64_t dy = 0; dy < size; ++dy) {
      const int32_t q = rank[ry[y + dy] * w + rx[cx]];
      add ? win.add(q) : win.remove(q);
    }
  };
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t cx = 0; cx < size; ++cx) column(y, cx, true);
    for (int64_t x = 0; x < w; ++x) {
      if (x > 0) column(y, x - 1, false), column(y, x + size - 1, true);
      o[y * w + x] = by_rank[win.kth(k)];
    }
    for (int64_t cx = w - 1; cx < w - 1 + size; ++cx) column(y, cx, false);
  }
  return out;
}

}  // namespace ovseg::training_free
