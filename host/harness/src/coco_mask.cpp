// Independent C++ implementation of the pycocotools mask algorithms
// (cocodataset/cocoapi, common/maskApi.c, Simplified BSD licence); the
// arithmetic (int rounding, the 5x upsampling, the boundary downsampling,
// the counts codec and its i > 2 delta rule) follows it step by step so
// that rasterised masks are identical pixel for pixel.
#include "ovseg/harness/coco_mask.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <utility>
#include <stdexcept>

#include <opencv2/core.hpp>

namespace ovseg::harness::coco {

Rle rle_from_polygon(const std::vector<double>& xy, std::uint32_t h, std::uint32_t w) {
  const std::size_t k = xy.size() / 2;
  Rle out;
  out.h = h;
  out.w = w;
  if (k == 0) {
    out.counts = {h * w};
    return out;
  }
  const double scale = 5;
  // Upsampled integer vertices, closed.
  std::vector<int> x(k + 1), y(k + 1);
  for (std::size_t j = 0; j < k; ++j) x[j] = static_cast<int>(scale * xy[j * 2 + 0] + .5);
  for (std::size_t j = 0; j < k; ++j) y[j] = static_cast<int>(scale * xy[j * 2 + 1] + .5);
  x[k] = x[0];
  y[k] = y[0];
  // Dense boundary points: walk each edge along its major axis.
  std::vector<int> u, v;
  {
    std::size_t m = 0;
    for (std::size_t j = 0; j < k; ++j)
      m += static_cast<std::size_t>(std::max(std::abs(x[j] - x[j + 1]), std::abs(y[j] - y[j + 1]))) + 1;
    u.reserve(m);
    v.reserve(m);
  }
  for (std::size_t j = 0; j < k; ++j) {
    int xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1];
    const int dx = std::abs(xe - xs), dy = std::abs(ys - ye);
    const bool flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
      std::swap(xs, xe);
      std::swap(ys, ye);
    }
    if (dx >= dy) {
      const double s = dx == 0 ? 0.0 : static_cast<double>(ye - ys) / dx;
      for (int d = 0; d <= dx; ++d) {
        const int t = flip ? dx - d : d;
        u.push_back(t + xs);
        v.push_back(static_cast<int>(ys + s * t + .5));
      }
    } else {
      const double s = static_cast<double>(xe - xs) / dy;
      for (int d = 0; d <= dy; ++d) {
        const int t = flip ? dy - d : d;
        v.push_back(t + ys);
        u.push_back(static_cast<int>(xs + s * t + .5));
      }
    }
  }
  // Points where the boundary crosses a pixel column centre, downsampled.
  std::vector<std::uint32_t> a;
  a.reserve(u.size() + 1);
  const double wd = static_cast<double>(w), hd = static_cast<double>(h);
  for (std::size_t j = 1; j < u.size(); ++j) {
    if (u[j] == u[j - 1]) continue;
    double xd = static_cast<double>(u[j] < u[j - 1] ? u[j] : u[j] - 1);
    xd = (xd + .5) / scale - .5;
    if (std::floor(xd) != xd || xd < 0 || xd > wd - 1) continue;
    double yd = static_cast<double>(v[j] < v[j - 1] ? v[j] : v[j - 1]);
    yd = (yd + .5) / scale - .5;
    if (yd < 0)
      yd = 0;
    else if (yd > hd)
      yd = hd;
    yd = std::ceil(yd);
    const int xi = static_cast<int>(xd), yi = static_cast<int>(yd);
    a.push_back(static_cast<std::uint32_t>(xi * static_cast<int>(h) + yi));
  }
  a.push_back(h * w);
  std::sort(a.begin(), a.end());
  std::uint32_t p = 0;
  for (auto& t : a) {
    const std::uint32_t cur = t;
    t -= p;
    p = cur;
  }
  // Collapse zero-length runs (merging their neighbours).
  std::vector<std::uint32_t> b;
  b.reserve(a.size());
  std::size_t j = 0;
  b.push_back(a[j++]);
  while (j < a.size()) {
    if (a[j] > 0) {
      b.push_back(a[j++]);
    } else {
      ++j;
      if (j < a.size()) b.back() += a[j++];
    }
  }
  out.counts = std::move(b);
  return out;
}

Rle rle_from_bbox(const double bb[4], std::uint32_t h, std::uint32_t w) {
  const double xs = bb[0], xe = xs + bb[2], ys = bb[1], ye = ys + bb[3];
  return rle_from_polygon({xs, ys, xs, ye, xe, ye, xe, ys}, h, w);
}

Rle rle_from_string(const std::string& s, std::uint32_t h, std::uint32_t w) {
  Rle r;
  r.h = h;
  r.w = w;
  std::size_t p = 0;
  while (p < s.size()) {
    long long x = 0;
    int k = 0;
    bool more = true;
    while (more) {
      if (p >= s.size()) throw std::invalid_argument("COCO RLE string ends inside a count");
      const int c = static_cast<int>(static_cast<signed char>(s[p])) - 48;
      if (c < 0 || c > 63)
        throw std::invalid_argument("COCO RLE string has an invalid character '" + std::string(1, s[p]) +
                                    "' at offset " + std::to_string(p));
      x |= static_cast<long long>(c & 0x1f) << (5 * k);
      more = (c & 0x20) != 0;
      ++p;
      ++k;
      if (!more && (c & 0x10)) x |= -1LL * (1LL << (5 * k));
    }
    const std::size_t m = r.counts.size();
    if (m > 2) x += static_cast<long long>(r.counts[m - 2]);
    r.counts.push_back(static_cast<std::uint32_t>(x));
  }
  return r;
}

std::string rle_to_string(const Rle& r) {
  std::string s;
  const std::size_t m = r.counts.size();
  for (std::size_t i = 0; i < m; ++i) {
    long long x = static_cast<long long>(r.counts[i]);
    if (i > 2) x -= static_cast<long long>(r.counts[i - 2]);
    bool more = true;
    while (more) {
      int c = static_cast<int>(x & 0x1f);
      x >>= 5;  // arithmetic shift, as on the reference platforms
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      s.push_back(static_cast<char>(c + 48));
    }
  }
  return s;
}

Rle rle_encode(const cv::Mat& mask) {
  if (mask.type() != CV_8UC1) throw std::invalid_argument("rle_encode: mask must be CV_8UC1");
  Rle r;
  r.h = static_cast<std::uint32_t>(mask.rows);
  r.w = static_cast<std::uint32_t>(mask.cols);
  std::uint8_t prev = 0;
  std::uint32_t c = 0;
  for (int x = 0; x < mask.cols; ++x)
    for (int y = 0; y < mask.rows; ++y) {
      const std::uint8_t b = mask.at<std::uint8_t>(y, x) ? 1 : 0;
      if (b != prev) {
        r.counts.push_back(c);
        c = 0;
        prev = b;
      }
      ++c;
    }
  r.counts.push_back(c);
  return r;
}

namespace {
void check_total(const Rle& r) {
  std::uint64_t s = 0;
  for (auto c : r.counts) s += c;
  if (s > static_cast<std::uint64_t>(r.h) * r.w)
    throw std::invalid_argument("COCO RLE counts sum to " + std::to_string(s) + " pixels, more than its size " +
                                std::to_string(r.h) + "x" + std::to_string(r.w));
}
}  // namespace

cv::Mat rle_decode(const Rle& r) {
  check_total(r);
  cv::Mat m(static_cast<int>(r.h), static_cast<int>(r.w), CV_8UC1, cv::Scalar(0));
  const std::uint64_t h = r.h;
  std::uint64_t p = 0;
  bool one = false;
  for (auto c : r.counts) {
    if (one)
      for (std::uint64_t q = p; q < p + c; ++q)
        m.at<std::uint8_t>(static_cast<int>(q % h), static_cast<int>(q / h)) = 1;
    p += c;
    one = !one;
  }
  return m;
}

std::uint64_t rle_area(const Rle& r) {
  std::uint64_t a = 0;
  for (std::size_t j = 1; j < r.counts.size(); j += 2) a += r.counts[j];
  return a;
}

namespace {
using Interval = std::pair<std::uint64_t, std::uint64_t>;  // [begin, end) of 1s, column-major

std::vector<Interval> to_intervals(const Rle& r) {
  std::vector<Interval> out;
  std::uint64_t p = 0;
  bool one = false;
  for (auto c : r.counts) {
    if (one && c > 0) out.emplace_back(p, p + c);
    p += c;
    one = !one;
  }
  return out;
}

Rle from_intervals(const std::vector<Interval>& iv, std::uint32_t h, std::uint32_t w) {
  Rle r;
  r.h = h;
  r.w = w;
  std::uint64_t p = 0;
  for (const auto& [b, e] : iv) {
    if (!r.counts.empty() && b == p) {  // touching the previous run of 1s: extend it
      r.counts.back() += static_cast<std::uint32_t>(e - b);
    } else {
      r.counts.push_back(static_cast<std::uint32_t>(b - p));
      r.counts.push_back(static_cast<std::uint32_t>(e - b));
    }
    p = e;
  }
  const std::uint64_t total = static_cast<std::uint64_t>(h) * w;
  if (p < total || r.counts.empty()) r.counts.push_back(static_cast<std::uint32_t>(total - p));
  return r;
}
}  // namespace

Rle rle_merge(const std::vector<Rle>& rles, bool intersect) {
  if (rles.empty()) return Rle{};
  if (rles.size() == 1) return rles[0];
  const std::uint32_t h = rles[0].h, w = rles[0].w;
  for (const auto& r : rles) {
    if (r.h != h || r.w != w) throw std::invalid_argument("rle_merge: masks of different sizes");
    check_total(r);
  }
  std::vector<Interval> acc = to_intervals(rles[0]);
  for (std::size_t i = 1; i < rles.size(); ++i) {
    const std::vector<Interval> b = to_intervals(rles[i]);
    std::vector<Interval> out;
    if (intersect) {
      std::size_t x = 0, y = 0;
      while (x < acc.size() && y < b.size()) {
        const std::uint64_t lo = std::max(acc[x].first, b[y].first);
        const std::uint64_t hi = std::min(acc[x].second, b[y].second);
        if (lo < hi) out.emplace_back(lo, hi);
        if (acc[x].second < b[y].second)
          ++x;
        else
          ++y;
      }
    } else {
      std::vector<Interval> all;
      all.reserve(acc.size() + b.size());
      std::merge(acc.begin(), acc.end(), b.begin(), b.end(), std::back_inserter(all));
      for (const auto& iv : all) {
        if (!out.empty() && iv.first <= out.back().second)
          out.back().second = std::max(out.back().second, iv.second);
        else
          out.push_back(iv);
      }
    }
    acc = std::move(out);
  }
  return from_intervals(acc, h, w);
}

void rle_paint(const Rle& r, cv::Mat& label, std::int32_t value) {
  if (label.type() != CV_32SC1 || label.rows != static_cast<int>(r.h) || label.cols != static_cast<int>(r.w))
    throw std::invalid_argument("rle_paint: label must be CV_32SC1 of the mask's size " + std::to_string(r.w) + "x" +
                                std::to_string(r.h));
  check_total(r);
  const std::uint64_t h = r.h;
  std::uint64_t p = 0;
  bool one = false;
  for (auto c : r.counts) {
    if (one) {
      for (std::uint64_t q = p; q < p + c; ++q) {
        const auto x = static_cast<int>(q / h), y = static_cast<int>(q % h);
        label.at<std::int32_t>(y, x) = value;
      }
    }
    p += c;
    one = !one;
  }
}

}  // namespace ovseg::harness::coco
