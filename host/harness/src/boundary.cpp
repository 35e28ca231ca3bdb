#include "ovseg/harness/boundary.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

namespace ovseg::harness {

int boundary_radius(int height, int width, double ratio) {
  const double diagonal = std::sqrt(double(height) * height + double(width) * width);
  return std::max(1, static_cast<int>(std::lround(ratio * diagonal)));
}

cv::Mat boundary_band(const cv::Mat& gt, int radius) {
  if (gt.channels() != 1 || (gt.depth() != CV_8U && gt.depth() != CV_16U && gt.depth() != CV_32S))
    throw std::invalid_argument("boundary_band: labels must be one channel of CV_8U, CV_16U or CV_32S");
  cv::Mat g;
  gt.convertTo(g, CV_32S);
  cv::Mat edge = cv::Mat::zeros(g.size(), CV_8U);
  for (int y = 0; y < g.rows; ++y) {
    const int32_t* row = g.ptr<int32_t>(y);
    const int32_t* below = y + 1 < g.rows ? g.ptr<int32_t>(y + 1) : nullptr;
    uint8_t* e = edge.ptr<uint8_t>(y);
    uint8_t* e_below = below ? edge.ptr<uint8_t>(y + 1) : nullptr;
    for (int x = 0; x < g.cols; ++x) {
      if (x + 1 < g.cols && row[x] != row[x + 1]) e[x] = e[x + 1] = 1;
      if (below && row[x] != below[x]) e[x] = e_below[x] = 1;
    }
  }
  if (radius <= 0) return edge;
  cv::Mat band;
  cv::dilate(edge, band, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(2 * radius + 1, 2 * radius + 1)));
  return band;
}

void add_boundary(ConfusionMatrix& cm, const cv::Mat& gt, const cv::Mat& pred, int ignore_index, double ratio) {
  const cv::Mat band = boundary_band(gt, boundary_radius(gt.rows, gt.cols, ratio));
  cv::Mat masked;
  gt.convertTo(masked, CV_32S);
  // Outside the band every pixel becomes void; with no ignore index, one
  // that no class has (K).
  const int skip = ignore_index >= 0 ? ignore_index : cm.num_classes();
  masked.setTo(cv::Scalar(skip), band == 0);
  cm.add(masked, pred, skip);
}

}  // namespace ovseg::harness
