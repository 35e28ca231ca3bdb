#include "ovseg/host/image_io.hpp"

#include "ovseg/harness/image_check.hpp"

#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "ovseg/sdk/atomic_file.hpp"
#include "ovseg/sdk/diagnostics.hpp"
#include "ovseg/sdk/stage.hpp"

namespace ovseg {

namespace {

// Writes through a temporary file so an interrupted run never leaves a
// truncated picture behind.
void write_png_atomically(const std::string& path, const cv::Mat& mat) {
  write_atomically(
      path,
      [&](const std::string& tmp) {
        if (!cv::imwrite(tmp, mat))
          throw Error({path, 0, 0}, "", "cannot write PNG", "check that the folder exists and is writable");
      },
      {/*durable=*/false, /*keep_extension=*/true});
}

at::Tensor labels_2d(const at::Tensor& labels) {
  at::Tensor l = labels.to(at::kCPU, at::kLong);
  if (l.dim() == 3 && l.size(0) == 1) l = l[0];
  expect_shape(l, {-1, -1}, "label map");
  return l.contiguous();
}

cv::Mat color_labels(const at::Tensor& labels_hw) {
  const int64_t h = labels_hw.size(0), w = labels_hw.size(1);
  cv::Mat out(static_cast<int>(h), static_cast<int>(w), CV_8UC3);
  const int64_t* src = labels_hw.data_ptr<int64_t>();
  for (int64_t y = 0; y < h; ++y) {
    auto* row = out.ptr<cv::Vec3b>(static_cast<int>(y));
    for (int64_t x = 0; x < w; ++x) {
      uint8_t rgb[3];
      palette_rgb(src[y * w + x], rgb);
      row[x] = cv::Vec3b(rgb[2], rgb[1], rgb[0]);  // OpenCV is BGR
    }
  }
  return out;
}

}  // namespace

void palette_rgb(int64_t k, uint8_t rgb[3]) {
  // PASCAL VOC's palette: bits of the class index spread over the channels,
  // so neighbouring classes get distinct colours.
  rgb[0] = rgb[1] = rgb[2] = 0;
  if (k < 0) return;
  uint64_t c = static_cast<uint64_t>(k);
  for (int shift = 7; c != 0; --shift, c >>= 3) {
    rgb[0] |= static_cast<uint8_t>(((c >> 0) & 1) << shift);
    rgb[1] |= static_cast<uint8_t>(((c >> 1) & 1) << shift);
    rgb[2] |= static_cast<uint8_t>(((c >> 2) & 1) << shift);
    if (shift == 0) break;
  }
}

cv::Mat read_bgr_image(const std::string& path) {
  if (!std::filesystem::exists(path)) throw Error({path, 0, 0}, "", "image file not found", "check the path");
  if (const std::string problem = harness::image_file_problem(path); !problem.empty())
    throw Error({path, 0, 0}, "", "the image file " + problem, "use a complete copy of the image");
  cv::Mat bgr;
  try {
    bgr = cv::imread(path, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {  // OpenCV's text is an assertion without the file
    throw Error({path, 0, 0}, "", "cannot decode image: " + e.err, "convert it to PNG or JPEG");
  }
  if (bgr.empty())
    throw Error({path, 0, 0}, "", "cannot decode image (not a PNG/JPEG/... OpenCV can read)",
                "convert it to PNG or JPEG");
  return bgr;
}

at::Tensor load_image(const std::string& path) {
  cv::Mat rgb;
  cv::cvtColor(read_bgr_image(path), rgb, cv::COLOR_BGR2RGB);
  at::Tensor hwc = at::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, at::kByte).clone();
  return hwc.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat).div_(255.0).contiguous();
}

void write_label_png(const std::string& path, const at::Tensor& labels) {
  at::Tensor l = labels_2d(labels);
  const bool fits_8bit = l.numel() == 0 || l.max().item<int64_t>() < 256;
  if (l.numel() && l.min().item<int64_t>() < 0)
    throw Error({path, 0, 0}, "", "label map has negative class indices", "fix the producing node");
  at::Tensor narrow = l.to(fits_8bit ? at::kByte : at::kShort).contiguous();
  cv::Mat mat(static_cast<int>(l.size(0)), static_cast<int>(l.size(1)), fits_8bit ? CV_8UC1 : CV_16UC1,
              narrow.data_ptr());
  write_png_atomically(path, mat);
}

void write_color_labels_png(const std::string& path, const at::Tensor& labels) {
  write_png_atomically(path, color_labels(labels_2d(labels)));
}

void write_overlay_png(const std::string& path, const cv::Mat& bgr, const at::Tensor& labels, double alpha) {
  at::Tensor l = labels_2d(labels);
  if (bgr.type() != CV_8UC3 || bgr.rows != l.size(0) || bgr.cols != l.size(1))
    throw std::invalid_argument("overlay: image " + std::to_string(bgr.cols) + "x" + std::to_string(bgr.rows) +
                                " for labels " + shape_string(l));
  cv::Mat blended;
  cv::addWeighted(bgr, 1.0 - alpha, color_labels(l), alpha, 0.0, blended);
  write_png_atomically(path, blended);
}

void write_overlay_png(const std::string& path, const at::Tensor& image, const at::Tensor& labels, double alpha) {
  at::Tensor l = labels_2d(labels);
  at::Tensor img = image.to(at::kCPU, at::kFloat);
  if (img.dim() == 4 && img.size(0) == 1) img = img[0];
  expect_shape(img, {3, l.size(0), l.size(1)}, "overlay image");
  at::Tensor rgb8 = img.clamp(0, 1).mul(255).round().to(at::kByte).permute({1, 2, 0}).contiguous();
  cv::Mat rgb(static_cast<int>(l.size(0)), static_cast<int>(l.size(1)), CV_8UC3, rgb8.data_ptr());
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  write_overlay_png(path, bgr, l, alpha);
}

}  // namespace ovseg
