// Internal: writing a scene's images and label maps, with one error naming
// the file OpenCV could not write (every world writer's outputs).
#pragma once

#include <filesystem>
#include <stdexcept>
#include <vector>

#include <opencv2/imgcodecs.hpp>

namespace ovseg::world {

// The format follows the extension (.png: lossless, 16-bit maps kept;
// .jpg with {cv::IMWRITE_JPEG_QUALITY, q}).
inline void write_image(const std::filesystem::path& path, const cv::Mat& m, const std::vector<int>& params = {}) {
  if (!cv::imwrite(path.string(), m, params)) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace ovseg::world
