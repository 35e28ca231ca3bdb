// Exact fast bilinear resizing and resize + argmax (ovseg/sdk/bilinear.hpp).
//
// This file is compiled with -ffp-contract=off (sdk/CMakeLists.txt): the
// "plain" variant must round a * b + c * d as two products and a sum, and
// the "fma" variant spells its fused multiply-add out, so the compiler may
// not choose either on its own.
#include "ovseg/sdk/bilinear.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#define OVSEG_BILINEAR_AVX2 1
#endif

namespace ovseg {
namespace {

// How ATen's kernel rounds t0 * w0 + t1 * w1 (see the header).
enum class Variant { Fma, Plain };

// Source indices and weights along one axis, as ATen's
// HelperInterpLinear::compute_indices_weights (align_corners=false) with
// UpSample.h's area_pixel_compute_source_index and
// compute_source_index_and_lambda, written out because the source index's
// arithmetic differs between LibTorch versions and builds: 1.13 computes it
// in double (acc_type<float> on the CPU), 2.x in float (opmath_t), and a
// build may have fused scale * (o + 0.5) - 0.5 into one multiply-add.
enum class IndexMath { Double, DoubleFma, Float, FloatFma };

struct Axis {
  std::vector<int32_t> i0, i1;
  std::vector<float> w0, w1;
};

template <typename T>
T source_index(float scale, int64_t o, bool fused) {
  const T s = scale, centre = static_cast<T>(o) + static_cast<T>(0.5);
  const T real = fused ? std::fma(s, centre, static_cast<T>(-0.5)) : s * centre - static_cast<T>(0.5);
  return real < 0 ? T(0) : real;  // linear modes clamp at 0 (OpenCV's rule)
}

Axis axis_weights(int64_t in, int64_t out, IndexMath math) {
  Axis a;
  a.i0.resize(out);
  a.i1.resize(out);
  a.w0.resize(out);
  a.w1.resize(out);
  const float scale = static_cast<float>(in) / static_cast<float>(out);  // compute_scales_value, no scale given
  for (int64_t o = 0; o < out; ++o) {
    if (in == out) {  // "scale_factor = 1, simply copy"
      a.i0[o] = a.i1[o] = static_cast<int32_t>(o);
      a.w0[o] = 1.0f;
      a.w1[o] = 0.0f;
      continue;
    }
    int64_t i0 = 0;
    if (math == IndexMath::Double || math == IndexMath::DoubleFma) {
      const double real = source_index<double>(scale, o, math == IndexMath::DoubleFma);
      i0 = static_cast<int64_t>(real);
      a.w1[o] = static_cast<float>(real - static_cast<double>(i0));
    } else {
      const float real = source_index<float>(scale, o, math == IndexMath::FloatFma);
      i0 = static_cast<int64_t>(real);
      a.w1[o] = real - static_cast<float>(i0);
    }
    a.i0[o] = static_cast<int32_t>(i0);
    a.i1[o] = static_cast<int32_t>(i0 + (i0 < in - 1 ? 1 : 0));
    a.w0[o] = 1.0f - a.w1[o];
  }
  return a;
}

// The arithmetic of ATen's build: how it rounds t0 * w0 + t1 * w1 and how
// it computes the source index; `usable` false = use ATen.
struct Kernel {
  Variant combine = Variant::Plain;
  IndexMath index = IndexMath::Double;
  bool usable = false;
};

}  // namespace
}  // namespace ovseg

// The kernels, twice (see bilinear_kernels.inc).
namespace ovseg {
namespace {
namespace generic {
#define OVSEG_BILINEAR_VECTOR 0
#include "bilinear_kernels.inc"
#undef OVSEG_BILINEAR_VECTOR
}  // namespace generic
}  // namespace
}  // namespace ovseg

#if OVSEG_BILINEAR_AVX2
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace ovseg {
namespace {
namespace avx2 {
#define OVSEG_BILINEAR_VECTOR 1
#include "bilinear_kernels.inc"
#undef OVSEG_BILINEAR_VECTOR
}  // namespace avx2
}  // namespace
}  // namespace ovseg
#pragma GCC pop_options
#endif

namespace ovseg {
namespace {

bool cpu_has_avx2_fma() {
#if OVSEG_BILINEAR_AVX2
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

// The kernels of the instruction set this CPU has, chosen once.
struct KernelFunctions {
  decltype(&generic::resize_planes_of) resize_planes;
  decltype(&generic::argmax_rows_of) argmax_rows;
};

const KernelFunctions& kernel_functions() {
#if OVSEG_BILINEAR_AVX2
  static const KernelFunctions f = cpu_has_avx2_fma()
                                       ? KernelFunctions{&avx2::resize_planes_of, &avx2::argmax_rows_of}
                                       : KernelFunctions{&generic::resize_planes_of, &generic::argmax_rows_of};
#else
  static const KernelFunctions f{&generic::resize_planes_of, &generic::argmax_rows_of};
#endif
  return f;
}

// The fast resize with kernel k: src (N,C,h,w) float CPU.
at::Tensor resize_with(const Kernel& k, const at::Tensor& x, int64_t height, int64_t width) {
  const at::Tensor src = x.contiguous();
  at::Tensor dst = at::empty({x.size(0), x.size(1), height, width}, src.options());
  const int64_t h = src.size(2), w = src.size(3), planes = src.size(0) * src.size(1);
  const Axis ay = axis_weights(h, height, k.index), ax = axis_weights(w, width, k.index);
  const float* s = src.data_ptr<float>();
  float* d = dst.data_ptr<float>();
  const auto resize_planes = kernel_functions().resize_planes;
  at::parallel_for(0, planes, 1, [&](int64_t p0, int64_t p1) { resize_planes(k.combine, s, h, w, d, ay, ax, p0, p1); });
  return dst;
}

// Deterministic probe values (no RNG state touched): a hash of the index
// mapped to [-8, 8).
at::Tensor probe(int64_t n, int64_t c, int64_t h, int64_t w) {
  at::Tensor t = at::empty({n, c, h, w}, at::kFloat);
  float* p = t.data_ptr<float>();
  uint32_t s = 2463534242u;
  for (int64_t i = 0; i < t.numel(); ++i) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    p[i] = static_cast<float>(s % 65536u) / 4096.0f - 8.0f;
  }
  return t;
}

// The arithmetic matching ATen's build on this machine, decided once: a
// candidate counts only if it matches at::upsample_bilinear2d bit for bit on
// every probe (up, down, unchanged, and single-row sizes). The fma combine
// without hardware FMA would be slower than ATen, so it is not tried then.
Kernel matching_kernel() {
  struct Case {
    int64_t n, c, h, w, oh, ow;
  };
  // Up, down, mixed, unchanged and single-row, all with height + width > 128.
  const Case cases[] = {{2, 3, 14, 14, 224, 224}, {1, 2, 37, 53, 91, 70},    {1, 4, 5, 7, 5, 131},
                        {1, 2, 17, 9, 1, 150},    {1, 2, 300, 200, 100, 60}, {1, 2, 336, 448, 480, 640}};
  std::vector<at::Tensor> inputs, expected;
  for (const Case& c : cases) {
    inputs.push_back(probe(c.n, c.c, c.h, c.w));
    expected.push_back(at::upsample_bilinear2d(inputs.back(), {c.oh, c.ow}, false));
  }
  for (Variant v : {Variant::Fma, Variant::Plain})
    for (IndexMath m : {IndexMath::Double, IndexMath::Float, IndexMath::FloatFma, IndexMath::DoubleFma}) {
      if (v == Variant::Fma && !cpu_has_avx2_fma()) continue;
      const Kernel candidate{v, m, true};
      bool all = true;
      for (size_t i = 0; i < inputs.size() && all; ++i)
        all = at::equal(resize_with(candidate, inputs[i], cases[i].oh, cases[i].ow), expected[i]);
      if (all) return candidate;
    }
  return Kernel{};
}

const Kernel& kernel() {
  static const Kernel k = matching_kernel();
  return k;
}

// LibTorch 2.x resizes to outputs with height + width <= 128 on another
// kernel (a separable one, vectorised across channels: its rounding depends
// on a channel's position in the tensor), so those stay ATen's on every
// version; they are cheap anyway.
constexpr int64_t kSmallOutput = 128;

bool fast_path(const at::Tensor& x, int64_t height, int64_t width) {
  return x.device().is_cpu() && x.scalar_type() == at::kFloat && height + width > kSmallOutput && kernel().usable;
}

}  // namespace

std::string bilinear_kernel() {
  const Kernel& k = kernel();
  if (!k.usable) return "aten";
  static const char* const index[] = {"double", "double fma", "float", "float fma"};
  return std::string(k.combine == Variant::Fma ? "fma" : "plain") + ", index in " + index[static_cast<int>(k.index)];
}

at::Tensor resize_bilinear(const at::Tensor& x, int64_t height, int64_t width) {
  // C = 1 and channels-last input take ATen's channels-last kernel, whose
  // rounding differs from the channels-first one reproduced here.
  // Training needs ATen's op for its gradient.
  if (x.dim() != 4 || x.size(1) < 2 || x.numel() == 0 || !fast_path(x, height, width) ||
      x.is_contiguous(at::MemoryFormat::ChannelsLast) || (x.requires_grad() && at::GradMode::is_enabled()))
    return at::upsample_bilinear2d(x, {height, width}, /*align_corners=*/false);
  return resize_with(kernel(), x, height, width);
}

void ResizedArgmax::add(const at::Tensor& maps_in, int64_t first) {
  const at::Tensor maps = maps_in.dim() == 4 ? maps_in.squeeze(0) : maps_in;
  if (maps.dim() != 3) {
    std::ostringstream os;
    os << "ResizedArgmax: class maps must be (C,h,w) or (1,C,h,w), got " << maps_in.sizes();
    throw std::invalid_argument(os.str());
  }
  const bool fast = fast_path(maps, height_, width_) && (!index_.defined() || index_.scalar_type() == at::kInt);
  if (!fast) {  // ATen: resize the tile, its argmax, merged keeping the first maximum
    at::Tensor part = maps.to(at::kFloat);
    if (part.size(1) != height_ || part.size(2) != width_) {
      // One channel would take ATen's channels-last kernel (other rounding
      // than the whole vocabulary's resize): resize it beside a twin.
      const bool single = part.size(0) == 1;
      const at::Tensor input = single ? part.expand({2, part.size(1), part.size(2)}).contiguous() : part;
      part = at::upsample_bilinear2d(input.unsqueeze(0), {height_, width_}, false)[0];
      if (single) part = part.slice(0, 0, 1);
    }
    // argmax returns the first maximum (max(dim)'s index need not be).
    const at::Tensor i = part.argmax(0, /*keepdim=*/true);
    const at::Tensor v = part.gather(0, i).squeeze(0);
    const at::Tensor index = i.squeeze(0) + first;
    if (!value_.defined()) {
      value_ = v;
      index_ = index;
      return;
    }
    if (index_.scalar_type() != at::kLong || index_.device() != v.device()) {
      index_ = index_.to(v.device(), at::kLong);
      value_ = value_.to(v.device());
    }
    const at::Tensor better = v > value_;
    value_ = at::where(better, v, value_);
    index_ = at::where(better, index, index_);
    return;
  }
  const bool fresh = !value_.defined();
  if (fresh) {
    value_ = at::empty({height_, width_}, at::kFloat);
    index_ = at::empty({height_, width_}, at::kInt);
  }
  const at::Tensor src = maps.contiguous();
  const int64_t channels = src.size(0), h = src.size(1), w = src.size(2);
  const Kernel& k = kernel();
  const Axis ay = axis_weights(h, height_, k.index), ax = axis_weights(w, width_, k.index);
  const float* s = src.data_ptr<float>();
  float* best = value_.data_ptr<float>();
  int32_t* index = index_.data_ptr<int32_t>();
  const int32_t f = static_cast<int32_t>(first);
  const auto argmax_rows = kernel_functions().argmax_rows;
  // Blocks of output rows: one block's running maximum and index stay in
  // cache while every class of the tile passes over it.
  constexpr int64_t kRowsPerBlock = 16;
  at::parallel_for(0, (height_ + kRowsPerBlock - 1) / kRowsPerBlock, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t y0 = b * kRowsPerBlock;
      argmax_rows(k.combine, s, channels, h, w, ay, ax, best, index, f, fresh, y0,
                  std::min(height_, y0 + kRowsPerBlock));
    }
  });
}

at::Tensor ResizedArgmax::labels() const {
  if (!index_.defined()) throw std::logic_error("ResizedArgmax: no class maps were added");
  return index_.to(at::kCPU, at::kLong).contiguous();
}

}  // namespace ovseg
