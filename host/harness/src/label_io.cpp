#include "ovseg/harness/label_io.hpp"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

namespace ovseg::harness {

namespace {
struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f) std::fclose(f);
  }
};

struct PngErr {
  char msg[256] = {0};
};

void png_error_fn(png_structp png, png_const_charp msg) {
  auto* e = static_cast<PngErr*>(png_get_error_ptr(png));
  if (e) std::snprintf(e->msg, sizeof e->msg, "%s", msg);
  png_longjmp(png, 1);
}
void png_warning_fn(png_structp, png_const_charp) {}
}  // namespace

cv::Mat read_label_png(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) throw std::runtime_error("label file not found or unreadable: " + path);
  unsigned char sig[8];
  if (std::fread(sig, 1, 8, f.get()) != 8 || png_sig_cmp(sig, 0, 8) != 0)
    throw std::runtime_error("label file is not a PNG: " + path);

  PngErr err;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, png_error_fn, png_warning_fn);
  if (!png) throw std::runtime_error("libpng: cannot create read struct for " + path);
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    throw std::runtime_error("libpng: cannot create info struct for " + path);
  }
  // Everything touched after setjmp and read after a longjmp lives on the heap
  // or is declared volatile-free before it.
  std::vector<unsigned char> buf;
  std::vector<png_bytep> rows;
  cv::Mat out;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw std::runtime_error("corrupt PNG label file " + path + ": " + err.msg);
  }
  png_init_io(png, f.get());
  png_set_sig_bytes(png, 8);
  png_read_info(png, info);
  const png_uint_32 w = png_get_image_width(png, info);
  const png_uint_32 h = png_get_image_height(png, info);
  const int depth = png_get_bit_depth(png, info);
  const int ctype = png_get_color_type(png, info);
  if (ctype != PNG_COLOR_TYPE_PALETTE && ctype != PNG_COLOR_TYPE_GRAY) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw std::runtime_error("label file " + path +
                             " is a colour/alpha PNG; a label map must be a palette or greyscale "
                             "PNG holding class indices");
  }
  if (depth < 8) png_set_packing(png);  // one byte per sample, values unscaled
  if (depth == 16) png_set_swap(png);   // host (little-endian) order
  png_read_update_info(png, info);
  const std::size_t rowbytes = png_get_rowbytes(png, info);
  buf.resize(rowbytes * h);
  rows.resize(h);
  for (png_uint_32 y = 0; y < h; ++y) rows[y] = buf.data() + y * rowbytes;
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);

  out.create(static_cast<int>(h), static_cast<int>(w), CV_32SC1);
  for (png_uint_32 y = 0; y < h; ++y) {
    auto* dst = out.ptr<std::int32_t>(static_cast<int>(y));
    if (depth == 16) {
      const auto* src = reinterpret_cast<const std::uint16_t*>(rows[y]);
      for (png_uint_32 x = 0; x < w; ++x) dst[x] = src[x];
    } else {
      const unsigned char* src = rows[y];
      for (png_uint_32 x = 0; x < w; ++x) dst[x] = src[x];
    }
  }
  return out;
}

void write_label_png(const std::string& path, const cv::Mat& label) {
  cv::Mat m = label;
  if (m.channels() != 1) throw std::invalid_argument("write_label_png: label must be single-channel");
  if (m.depth() == CV_32S) {
    double lo, hi;
    cv::minMaxLoc(m, &lo, &hi);
    if (lo < 0 || hi > 65535) throw std::invalid_argument("write_label_png: values outside 0..65535 for " + path);
    m.convertTo(m, hi > 255 ? CV_16U : CV_8U);
  } else if (m.depth() != CV_8U && m.depth() != CV_16U) {
    throw std::invalid_argument("write_label_png: label must be CV_8U, CV_16U or CV_32S");
  }
  if (!cv::imwrite(path, m)) throw std::runtime_error("cannot write PNG " + path);
}

}  // namespace ovseg::harness
