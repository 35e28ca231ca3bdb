// Detects image files cut short. OpenCV decodes a truncated JPEG without an
// error (libjpeg prints a warning and fills the rest with grey), which would
// put a half-grey image into an evaluation unnoticed.
#pragma once

#include <string>

namespace ovseg::harness {

// "" when the file looks complete; otherwise why not ("JPEG without its end
// marker (truncated?)", "PNG without its IEND chunk (truncated?)"). Formats
// other than JPEG and PNG are not checked.
std::string image_file_problem(const std::string& path);

}  // namespace ovseg::harness
