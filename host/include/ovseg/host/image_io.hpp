// Images in and result pictures out. OpenCV stays inside image_io.cpp.
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace cv {
class Mat;
}

namespace ovseg {

// (1,3,H,W) float32 RGB in [0,1]; throws naming the file when unreadable.
at::Tensor load_image(const std::string& path);
// The image as OpenCV decodes it (CV_8UC3 BGR, what data sets and
// preprocess_image take), with the same checks and errors.
cv::Mat read_bgr_image(const std::string& path);

// Writes class indices (H,W) as a grey PNG: 8-bit when every index < 256,
// else 16-bit.
void write_label_png(const std::string& path, const at::Tensor& labels);

// Colour-coded labels blended over the image (3,H,W in [0,1]); alpha is the
// label colour's weight.
void write_overlay_png(const std::string& path, const at::Tensor& image, const at::Tensor& labels, double alpha = 0.55);
// The same over an 8-bit BGR image of the labels' size.
void write_overlay_png(const std::string& path, const cv::Mat& bgr, const at::Tensor& labels, double alpha = 0.55);

// Writes a colour-coded label map (palette only, no image).
void write_color_labels_png(const std::string& path, const at::Tensor& labels);

// The fixed class palette (VOC-style bit interleaving): RGB of class k.
void palette_rgb(int64_t k, uint8_t rgb[3]);

}  // namespace ovseg
