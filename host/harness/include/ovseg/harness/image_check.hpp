// Detects image files cut short. OpenCV decodes a truncated JPEG without an
// error (libjpeg prints a warning and fills the rest with grey), which would
// put a half-grey image into an evaluation unnoticed.
#pragma once

#include <cstdint>
#include <string>

namespace ovseg::harness {

// OpenCV's own default limit (CV_IO_MAX_IMAGE_PIXELS): 2^30 pixels.
inline constexpr uint64_t kMaxImagePixels = uint64_t{1} << 30;

// "" when the file looks complete; otherwise why not ("JPEG without its end
// marker (truncated?)", "PNG without its IEND chunk (truncated?)", a PNG
// header claiming more than kMaxImagePixels). Formats other than JPEG and
// PNG are not checked.
std::string image_file_problem(const std::string& path);

}  // namespace ovseg::harness
