// Reading label maps as stored values, never as colours.
#pragma once

#include <string>

#include <opencv2/core/mat.hpp>

namespace ovseg::harness {

// Reads a PNG label map with libpng and returns its stored sample values as
// a CV_32SC1 matrix: the palette INDEX for palette PNGs (VOC, Context; not
// the RGB colour that cv::imread would return), the grey value for 1..16-bit
// greyscale PNGs. Colour or alpha PNGs are refused (a label map has one
// channel). Throws std::runtime_error naming the file on any failure.
cv::Mat read_label_png(const std::string& path);

// Writes a CV_8UC1 or CV_16UC1 label map as a greyscale PNG (for tests and
// --save-predictions); CV_32S input must be within 0..65535.
void write_label_png(const std::string& path, const cv::Mat& label);

}  // namespace ovseg::harness
