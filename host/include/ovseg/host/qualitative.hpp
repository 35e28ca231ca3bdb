// Qualitative examples for reports: a small image | ground truth |
// prediction strip per evaluated image, JPEG-encoded and stored in the run's
// record (base64), so the record stays one atomic file and the HTML report
// stays self-contained.
#pragma once

#include <opencv2/core.hpp>

#include <string>
#include <vector>

namespace ovseg {

// How many images of a run get a strip (the first ones of the selection).
inline constexpr size_t kQualitativeImages = 4;

// bgr: the data-set image (CV_8UC3); gt, pred: label maps (CV_32S) of the
// same size, `ignore_index` drawn white. Returns base64 JPEG, strip height
// `height` pixels.
std::string qualitative_strip_base64(const cv::Mat& bgr, const cv::Mat& gt, const cv::Mat& pred,
                                     int ignore_index, int height = 160);

// Standard base64 (RFC 4648, padded) of encoded image bytes, for data: URLs.
std::string base64_encode(const std::vector<unsigned char>& bytes);

}  // namespace ovseg
