#include "ovseg/host/qualitative.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "ovseg/host/image_io.hpp"

namespace ovseg {

namespace {

cv::Mat colour_labels(const cv::Mat& labels, int ignore_index) {
  cv::Mat out(labels.size(), CV_8UC3);
  for (int y = 0; y < labels.rows; ++y)
    for (int x = 0; x < labels.cols; ++x) {
      const int k = labels.at<int32_t>(y, x);
      uint8_t rgb[3] = {255, 255, 255};
      if (k != ignore_index) palette_rgb(k, rgb);
      out.at<cv::Vec3b>(y, x) = cv::Vec3b(rgb[2], rgb[1], rgb[0]);
    }
  return out;
}

}  // namespace

std::string base64_encode(const std::vector<unsigned char>& bytes) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = bytes[i] << 16;
    if (i + 1 < bytes.size()) v |= bytes[i + 1] << 8;
    if (i + 2 < bytes.size()) v |= bytes[i + 2];
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? table[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? table[v & 63] : '=';
  }
  return out;
}

std::string qualitative_strip_base64(const cv::Mat& bgr, const cv::Mat& gt, const cv::Mat& pred, int ignore_index,
                                     int height) {
  const int width = std::max(1, bgr.cols * height / std::max(1, bgr.rows));
  const cv::Size size(width, height);
  cv::Mat image, gt_small, pred_small;
  cv::resize(bgr, image, size, 0, 0, cv::INTER_AREA);
  // Nearest for labels: no invented classes at the borders.
  cv::resize(colour_labels(gt, ignore_index), gt_small, size, 0, 0, cv::INTER_NEAREST);
  cv::resize(colour_labels(pred, ignore_index), pred_small, size, 0, 0, cv::INTER_NEAREST);
  cv::Mat strip;
  cv::hconcat(std::vector<cv::Mat>{image, gt_small, pred_small}, strip);
  std::vector<uchar> jpeg;
  cv::imencode(".jpg", strip, jpeg, {cv::IMWRITE_JPEG_QUALITY, 85});
  return base64_encode(jpeg);
}

}  // namespace ovseg
