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

at::Tensor median_filter(const at::Tensor& img, int64_t size) {
  if (img.dim() != 2 || size < 1 || size % 2 == 0)
    throw std::invalid_argument("median_filter: expected a (h, w) map and an odd size");
  at::Tensor src = img.to(at::kFloat).contiguous();
  const int64_t h = src.size(0), w = src.size(1), r = size / 2;
  at::Tensor out = at::empty_like(src);
  const float* s = src.data_ptr<float>();
  float* o = out.data_ptr<float>();
  std::vector<int64_t> ry(h + 2 * r), rx(w + 2 * r);  // reflected indices
  for (int64_t i = -r; i < h + r; ++i) ry[i + r] = reflect(i, h);
  for (int64_t j = -r; j < w + r; ++j) rx[j + r] = reflect(j, w);
  std::vector<float> win(size * size);
  const auto mid = win.begin() + (size * size) / 2;  // scipy's rank size*size // 2
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      float* p = win.data();
      for (int64_t dy = 0; dy < size; ++dy) {
        const float* row = s + ry[y + dy] * w;
        for (int64_t dx = 0; dx < size; ++dx) *p++ = row[rx[x + dx]];
      }
      std::nth_element(win.begin(), mid, win.end());
      o[y * w + x] = *mid;
    }
  return out;
}

}  // namespace ovseg::training_free
