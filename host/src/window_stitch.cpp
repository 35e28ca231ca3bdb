// Stitching window logits into the resized image (the mean over the windows
// covering each pixel), and the finiteness check of the result.
//
// ATen's way is one zero-filled (1,K,H,W) canvas, an add_ per window and a
// division by the count map: three passes over K x H x W floats. The CPU
// path here does the same float operations per pixel in the same order
// (0 + the windows' values in window order, then / count) one canvas row at
// a time, while the row is in cache, so the result is ATen's bit for bit.
// This file is compiled with -O3 (host/CMakeLists.txt): the row loops are
// then vectorised.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>

#include "ovseg/host/inference.hpp"
#include "ovseg/sdk/diagnostics.hpp"

namespace ovseg {

at::Tensor window_count_map(const std::vector<Window>& windows, int height, int width, at::Device device) {
  at::Tensor count = at::zeros({height, width}, at::TensorOptions().dtype(at::kFloat).device(device));
  for (const auto& w : windows) count.slice(0, w.y1, w.y2).slice(1, w.x1, w.x2).add_(1.0);
  return count;
}

namespace {

// Channel c's canvas from the windows' (k, wh, ww) maps, row by row.
void stitch_channel(const float* windows_data, int64_t channels, int64_t c, int64_t wh, int64_t ww,
                    const std::vector<Window>& windows, const float* count, int width, int height, float* out) {
  const int64_t plane = wh * ww;
  for (int y = 0; y < height; ++y) {
    float* row = out + static_cast<int64_t>(y) * width;
    for (int x = 0; x < width; ++x) row[x] = 0.0f;
    for (size_t i = 0; i < windows.size(); ++i) {
      const Window& w = windows[i];
      if (y < w.y1 || y >= w.y2) continue;
      const float* src = windows_data + (static_cast<int64_t>(i) * channels + c) * plane + (y - w.y1) * ww;
      float* dst = row + w.x1;
      const int n = w.x2 - w.x1;
      for (int x = 0; x < n; ++x) dst[x] += src[x];
    }
    const float* cnt = count + static_cast<int64_t>(y) * width;
    for (int x = 0; x < width; ++x) row[x] /= cnt[x];
  }
}

bool fits_windows(const at::Tensor& logits, const std::vector<Window>& windows, int height, int width) {
  for (const Window& w : windows)
    if (w.y1 < 0 || w.x1 < 0 || w.y2 > height || w.x2 > width || w.y2 - w.y1 != logits.size(2) ||
        w.x2 - w.x1 != logits.size(3))
      return false;
  return true;
}

}  // namespace

at::Tensor stitch_windows(const at::Tensor& window_logits, const std::vector<Window>& windows, int height, int width) {
  if (window_logits.dim() != 4 || window_logits.size(0) != static_cast<int64_t>(windows.size()))
    throw std::invalid_argument("stitch_windows: logits " + shape_string(window_logits) + " for " +
                                std::to_string(windows.size()) + " windows");
  const at::Tensor count = window_count_map(windows, height, width, window_logits.device());
  if (!window_logits.device().is_cpu() || window_logits.scalar_type() != at::kFloat ||
      !fits_windows(window_logits, windows, height, width)) {
    at::Tensor canvas = at::zeros({1, window_logits.size(1), height, width}, window_logits.options());
    for (size_t i = 0; i < windows.size(); ++i) {
      const Window& w = windows[i];
      canvas.slice(2, w.y1, w.y2).slice(3, w.x1, w.x2).add_(window_logits[static_cast<int64_t>(i)]);
    }
    // In place: a second (1,K,H,W) tensor is what a large vocabulary cannot afford.
    return canvas.div_(count);
  }
  const at::Tensor src = window_logits.contiguous();
  const int64_t channels = src.size(1);
  at::Tensor canvas = at::empty({1, channels, height, width}, src.options());
  const float* s = src.data_ptr<float>();
  const float* cnt = count.data_ptr<float>();
  float* out = canvas.data_ptr<float>();
  const int64_t plane = static_cast<int64_t>(height) * width;
  at::parallel_for(0, channels, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      stitch_channel(s, channels, c, src.size(2), src.size(3), windows, cnt, width, height, out + c * plane);
  });
  return canvas;
}

bool all_finite(const at::Tensor& t) {
  if (!t.device().is_cpu() || t.scalar_type() != at::kFloat || !t.is_contiguous())
    return at::isfinite(t).all().item<bool>();
  // v - v is 0 for a finite v and NaN for inf or NaN; the sum stays 0 only
  // if every value is finite. Four partial sums keep the loop vectorisable.
  const float* p = t.data_ptr<float>();
  const int64_t n = t.numel();
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += p[i + j] - p[i + j];
  float total = 0.0f;
  for (; i < n; ++i) total += p[i] - p[i];
  for (float a : acc) total += a;
  return total == 0.0f;
}

}  // namespace ovseg
