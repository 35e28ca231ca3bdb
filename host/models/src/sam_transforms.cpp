// SAM's pre- and post-processing (see sam_predictor.hpp): ResizeLongestSide
// from segment_anything/utils/transforms.py, Sam.preprocess and
// Sam.postprocess_masks from modeling/sam.py, and the Pillow resampler that
// apply_image runs through torchvision's resize of a PIL image.
#include <ovseg/models/sam_predictor.hpp>
#include <ovseg/sdk/bilinear.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

namespace ovseg::models {

std::pair<int64_t, int64_t> sam_preprocess_shape(int64_t h, int64_t w, int64_t long_side) {
  // scale = long_side * 1.0 / max(oldh, oldw); int(x + 0.5)
  const double scale = static_cast<double>(long_side) * 1.0 / static_cast<double>(std::max(h, w));
  const double newh = static_cast<double>(h) * scale, neww = static_cast<double>(w) * scale;
  return {static_cast<int64_t>(newh + 0.5), static_cast<int64_t>(neww + 0.5)};
}

SamFrame sam_frame(int64_t original_h, int64_t original_w, int64_t image_size) {
  SamFrame f;
  f.original_h = original_h;
  f.original_w = original_w;
  f.image_size = image_size;
  std::tie(f.input_h, f.input_w) = sam_preprocess_shape(original_h, original_w, image_size);
  return f;
}

namespace {

// Pillow src/libImaging/Resample.c, for the BILINEAR filter.
constexpr int kPrecisionBits = 32 - 8 - 2;

double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

struct Coefficients {
  int ksize = 0;
  std::vector<int> bounds;  // per output pixel: first input pixel, count
  std::vector<int32_t> k;   // per output pixel: ksize fixed-point weights
};

// precompute_coeffs + normalize_coeffs_8bpc over the whole input (box 0..in).
Coefficients precompute(int in_size, int out_size) {
  const double in0 = 0.0, in1 = in_size;
  double scale = (in1 - in0) / out_size, filterscale = scale;
  if (filterscale < 1.0) filterscale = 1.0;
  const double support = 1.0 * filterscale;  // bilinear support 1.0
  Coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.bounds.resize(static_cast<size_t>(out_size) * 2);
  std::vector<double> kk(static_cast<size_t>(out_size) * c.ksize, 0.0);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double* k = &kk[static_cast<size_t>(xx) * c.ksize];
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = bilinear_filter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x)
      if (ww != 0.0) k[x] /= ww;
    c.bounds[xx * 2] = xmin;
    c.bounds[xx * 2 + 1] = xmax;
  }
  c.k.resize(kk.size());
  for (size_t i = 0; i < kk.size(); ++i)
    c.k[i] = kk[i] < 0 ? static_cast<int32_t>(-0.5 + kk[i] * (1 << kPrecisionBits))
                       : static_cast<int32_t>(0.5 + kk[i] * (1 << kPrecisionBits));
  return c;
}

inline uint8_t clip8(int32_t v) {  // clip8_lookups[in >> PRECISION_BITS]
  const int32_t s = v >> kPrecisionBits;
  return static_cast<uint8_t>(s < 0 ? 0 : s > 255 ? 255 : s);
}

}  // namespace

at::Tensor sam_resize_uint8(const at::Tensor& rgb_hwc, int64_t new_h, int64_t new_w) {
  TORCH_CHECK(rgb_hwc.dim() == 3 && rgb_hwc.size(2) == 3 && rgb_hwc.scalar_type() == at::kByte,
              "sam_resize_uint8: expected an (H,W,3) uint8 image, got ", rgb_hwc.sizes(), " ", rgb_hwc.scalar_type());
  TORCH_CHECK(new_h > 0 && new_w > 0, "sam_resize_uint8: bad output size ", new_h, "x", new_w);
  const at::Tensor in = rgb_hwc.to(at::kCPU).contiguous();
  const int H = static_cast<int>(in.size(0)), W = static_cast<int>(in.size(1));
  const int oh = static_cast<int>(new_h), ow = static_cast<int>(new_w);
  if (oh == H && ow == W) return in.clone();  // Image.resize returns a copy
  const Coefficients horiz = precompute(W, ow), vert = precompute(H, oh);
  const bool need_h = ow != W, need_v = oh != H;
  // ImagingResampleInner: the horizontal pass covers only the rows the
  // vertical pass reads, and its output is 8-bit.
  const int y_first = need_h ? vert.bounds[0] : 0;
  const int y_last = need_h ? vert.bounds[oh * 2 - 2] + vert.bounds[oh * 2 - 1] : H;
  const uint8_t* src = in.data_ptr<uint8_t>();
  std::vector<uint8_t> tmp;
  int tmp_h = H, tmp_w = W;
  const uint8_t* mid = src;
  if (need_h) {
    tmp_h = y_last - y_first;
    tmp_w = ow;
    tmp.resize(static_cast<size_t>(tmp_h) * tmp_w * 3);
    for (int yy = 0; yy < tmp_h; ++yy) {
      const uint8_t* row = src + static_cast<size_t>(yy + y_first) * W * 3;
      for (int xx = 0; xx < ow; ++xx) {
        const int xmin = horiz.bounds[xx * 2], xmax = horiz.bounds[xx * 2 + 1];
        const int32_t* k = &horiz.k[static_cast<size_t>(xx) * horiz.ksize];
        int32_t ss[3] = {1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1)};
        for (int x = 0; x < xmax; ++x)
          for (int ch = 0; ch < 3; ++ch) ss[ch] += static_cast<int32_t>(row[(x + xmin) * 3 + ch]) * k[x];
        for (int ch = 0; ch < 3; ++ch) tmp[(static_cast<size_t>(yy) * ow + xx) * 3 + ch] = clip8(ss[ch]);
      }
    }
    mid = tmp.data();
  }
  at::Tensor out = at::empty({oh, tmp_w, 3}, at::kByte);
  uint8_t* dst = out.data_ptr<uint8_t>();
  if (!need_v) {
    std::copy(mid, mid + static_cast<size_t>(oh) * tmp_w * 3, dst);
    return out;
  }
  for (int yy = 0; yy < oh; ++yy) {
    const int ymin = vert.bounds[yy * 2] - (need_h ? y_first : 0), ymax = vert.bounds[yy * 2 + 1];
    const int32_t* k = &vert.k[static_cast<size_t>(yy) * vert.ksize];
    for (int xx = 0; xx < tmp_w; ++xx) {
      int32_t ss[3] = {1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1)};
      for (int y = 0; y < ymax; ++y) {
        const uint8_t* p = mid + (static_cast<size_t>(y + ymin) * tmp_w + xx) * 3;
        for (int ch = 0; ch < 3; ++ch) ss[ch] += static_cast<int32_t>(p[ch]) * k[y];
      }
      for (int ch = 0; ch < 3; ++ch) dst[(static_cast<size_t>(yy) * tmp_w + xx) * 3 + ch] = clip8(ss[ch]);
    }
  }
  return out;
}

at::Tensor sam_image_to_uint8(const at::Tensor& rgb01) {
  at::Tensor x = rgb01;
  if (x.dim() == 4) {
    TORCH_CHECK(x.size(0) == 1, "sam_image_to_uint8: one image at a time, got a batch of ", x.size(0));
    x = x[0];
  }
  TORCH_CHECK(x.dim() == 3 && x.size(0) == 3, "sam_image_to_uint8: expected (3,H,W) RGB, got ", rgb01.sizes());
  return (x.to(at::kCPU, at::kFloat) * 255.0).round().clamp(0, 255).to(at::kByte).permute({1, 2, 0}).contiguous();
}

at::Tensor sam_preprocess_image(const at::Tensor& rgb_hwc, int64_t image_size, SamFrame* frame) {
  TORCH_CHECK(rgb_hwc.dim() == 3 && rgb_hwc.size(2) == 3 && rgb_hwc.scalar_type() == at::kByte,
              "SAM preprocessing: expected an (H,W,3) uint8 RGB image, got ", rgb_hwc.sizes(), " ",
              rgb_hwc.scalar_type());
  const SamFrame f = sam_frame(rgb_hwc.size(0), rgb_hwc.size(1), image_size);
  const at::Tensor resized = sam_resize_uint8(rgb_hwc, f.input_h, f.input_w);
  // Sam.preprocess: (x - pixel_mean) / pixel_std with float32 buffers, then F.pad.
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  const at::Tensor mean = at::tensor({float(kSamPixelMean[0]), float(kSamPixelMean[1]), float(kSamPixelMean[2])}, f32)
                              .view({3, 1, 1});
  const at::Tensor std = at::tensor({float(kSamPixelStd[0]), float(kSamPixelStd[1]), float(kSamPixelStd[2])}, f32)
                             .view({3, 1, 1});
  const at::Tensor chw = resized.permute({2, 0, 1}).unsqueeze(0);
  const at::Tensor x = (chw - mean) / std;
  if (frame) *frame = f;
  return at::constant_pad_nd(x, {0, image_size - f.input_w, 0, image_size - f.input_h}, 0.0);
}

at::Tensor sam_apply_coords(const at::Tensor& coords_xy, const SamFrame& f, at::ScalarType dtype) {
  TORCH_CHECK(coords_xy.dim() >= 1 && coords_xy.size(-1) == 2, "sam_apply_coords: expected (..., 2) coordinates, got ",
              coords_xy.sizes());
  // numpy float64: coords[..., 0] * (new_w / old_w), coords[..., 1] * (new_h / old_h)
  const at::Tensor c = coords_xy.to(at::kDouble);
  const double sx = static_cast<double>(f.input_w) / f.original_w, sy = static_cast<double>(f.input_h) / f.original_h;
  return at::stack({c.select(-1, 0) * sx, c.select(-1, 1) * sy}, -1).to(dtype);
}

at::Tensor sam_apply_boxes(const at::Tensor& boxes_xyxy, const SamFrame& f) {
  TORCH_CHECK(boxes_xyxy.size(-1) == 4, "sam_apply_boxes: expected (..., 4) boxes, got ", boxes_xyxy.sizes());
  return sam_apply_coords(boxes_xyxy.reshape({-1, 2, 2}), f).reshape({-1, 4});
}

at::Tensor sam_postprocess_masks(const at::Tensor& low_res, const SamFrame& f) {
  TORCH_CHECK(low_res.dim() == 4, "sam_postprocess_masks: expected (B,M,h,w) logits, got ", low_res.sizes());
  // F.interpolate(..., mode="bilinear", align_corners=False) twice; ovseg's
  // resize is ATen's bit for bit (ovseg/sdk/bilinear.hpp), only faster.
  at::Tensor m = resize_bilinear(low_res, f.image_size, f.image_size);
  m = m.slice(2, 0, f.input_h).slice(3, 0, f.input_w);
  return resize_bilinear(m, f.original_h, f.original_w);
}

}  // namespace ovseg::models
