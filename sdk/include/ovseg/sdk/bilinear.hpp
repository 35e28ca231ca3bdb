// Bilinear resizing (align_corners=false) of float class maps on the CPU,
// bit for bit at::upsample_bilinear2d, faster: the harness resizes every
// class map of every window and of the stitched image, which at ADE-847's
// vocabulary is most of the per-class cost (README "Cost as the vocabulary
// grows").
//
// Why it is exact: ATen's channels-first CPU kernel computes each output
// value as t(y0) * wy0 + t(y1) * wy1 with t(y) = x(y, x0) * wx0 + x(y, x1) * wx1
// and the weights of UpSample.h (compute_source_index_and_lambda). The
// kernel here does the same float operations in the same order, but once per
// source row rather than per output pixel (bilinear is separable, and the
// horizontal pass of a source row does not depend on the output row), with
// vector instructions. Two things differ between LibTorch builds and are
// therefore not assumed: whether a * b + c * d was compiled into a fused
// multiply-add (and which product it fused), and how the source index
// scale * (o + 0.5) - 0.5 is computed (double in 1.13, float in 2.x, fused or
// not). The first use compares each candidate with at::upsample_bilinear2d
// on probes and keeps the one that matches bit for bit; when none does,
// everything goes through ATen.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace ovseg {

// at::upsample_bilinear2d(x, {height, width}, /*align_corners=*/false) for a
// (N,C,h,w) tensor. The fast kernel takes outputs with height + width > 128
// (LibTorch 2.x resizes smaller ones on another kernel) of float CPU tensors
// with C >= 2
// (LibTorch resizes C = 1, which is also channels-last contiguous, on its
// channels-last kernel, and channels-last input likewise) that need no
// gradient; everything else (training included) goes to ATen.
at::Tensor resize_bilinear(const at::Tensor& x, int64_t height, int64_t width);

// argmax over classes of class maps resized bilinearly to (height, width),
// fed in class order, tile by tile, without the (K, height, width) tensor:
// exactly argmax(upsample_bilinear2d(all maps)) over dim 1 (the first
// maximum wins a tie, as argmax).
class ResizedArgmax {
 public:
  ResizedArgmax(int64_t height, int64_t width) : height_(height), width_(width) {}
  // maps: (1,C,h,w) or (C,h,w), classes first .. first+C-1; a tile's first
  // must be the previous tile's first + C.
  void add(const at::Tensor& maps, int64_t first);
  // (height, width) int64 labels on the CPU.
  at::Tensor labels() const;

 private:
  int64_t height_, width_;
  at::Tensor value_, index_;  // running maximum and its class (int32 on the fast path)
};

// The arithmetic the calls above use in this process, e.g. "fma, index in
// double" (what matched ATen's on the probes), or "aten" (none matched, or
// the CPU lacks what the match needs). For benchmarks and tests.
std::string bilinear_kernel();

}  // namespace ovseg
