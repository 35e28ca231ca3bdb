#include "ovseg/train/sam_click_eval.hpp"

#include <map>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <opencv2/imgproc.hpp>

#include "ovseg/models/sam_predictor.hpp"

namespace ovseg::train {

namespace {

cv::Mat as_mat_u8(const at::Tensor& mask) {
  at::Tensor m = mask.to(at::kCPU).to(at::kByte).contiguous();
  return cv::Mat(static_cast<int>(m.size(0)), static_cast<int>(m.size(1)), CV_8UC1, m.data_ptr<uint8_t>()).clone();
}

double iou(const at::Tensor& a, const at::Tensor& b) {
  const double inter = (a & b).sum().item<double>(), uni = (a | b).sum().item<double>();
  return uni > 0 ? inter / uni : 0.0;
}

// Flood-fill variants tried for the baseline: (tolerance, fixed range).
std::vector<std::pair<int, bool>> flood_variants() {
  std::vector<std::pair<int, bool>> v;
  for (bool fixed : {false, true})
    for (int tol : {2, 4, 8, 16, 24, 32, 48}) v.emplace_back(tol, fixed);
  return v;
}

}  // namespace

std::pair<int64_t, int64_t> interior_point(const at::Tensor& mask) {
  cv::Mat m = as_mat_u8(mask);
  cv::Mat padded;  // the image border counts as the object's border
  cv::copyMakeBorder(m, padded, 1, 1, 1, 1, cv::BORDER_CONSTANT, 0);
  cv::Mat dist;
  cv::distanceTransform(padded, dist, cv::DIST_L2, cv::DIST_MASK_PRECISE);
  double best = 0, cx = 0, cy = 0, count = 0;
  for (int y = 0; y < m.rows; ++y)
    for (int x = 0; x < m.cols; ++x)
      if (m.at<uint8_t>(y, x)) best = std::max(best, static_cast<double>(dist.at<float>(y + 1, x + 1)));
  // Ties (a rectangle's whole mid-line) are broken towards their centroid.
  for (int y = 0; y < m.rows; ++y)
    for (int x = 0; x < m.cols; ++x)
      if (m.at<uint8_t>(y, x) && dist.at<float>(y + 1, x + 1) >= best - 1e-4) cx += x, cy += y, count += 1;
  if (count == 0) return {0, 0};
  cx /= count, cy /= count;
  std::pair<int64_t, int64_t> at{0, 0};
  double nearest = 1e300;
  for (int y = 0; y < m.rows; ++y)
    for (int x = 0; x < m.cols; ++x)
      if (m.at<uint8_t>(y, x) && dist.at<float>(y + 1, x + 1) >= best - 1e-4) {
        const double d = (x - cx) * (x - cx) + (y - cy) * (y - cy);
        if (d < nearest) nearest = d, at = {x, y};
      }
  return at;
}

at::Tensor colour_flood_fill(const at::Tensor& rgb_hwc, int64_t x, int64_t y, int tolerance, bool fixed_range) {
  at::Tensor img = rgb_hwc.to(at::kCPU).contiguous();
  cv::Mat rgb(static_cast<int>(img.size(0)), static_cast<int>(img.size(1)), CV_8UC3, img.data_ptr<uint8_t>());
  cv::Mat work = rgb.clone();
  cv::Mat mask = cv::Mat::zeros(work.rows + 2, work.cols + 2, CV_8UC1);
  const int flags = 8 | cv::FLOODFILL_MASK_ONLY | (255 << 8) | (fixed_range ? cv::FLOODFILL_FIXED_RANGE : 0);
  const cv::Scalar diff(tolerance, tolerance, tolerance);
  cv::floodFill(work, mask, cv::Point(static_cast<int>(x), static_cast<int>(y)), cv::Scalar(), nullptr, diff, diff,
                flags);
  const cv::Mat inner = mask(cv::Rect(1, 1, work.cols, work.rows)).clone();
  return at::from_blob(inner.data, {inner.rows, inner.cols}, at::kByte).clone().gt(0);
}

ClickEvalResult evaluate_single_clicks(std::shared_ptr<const models::SamModel> model, const InstanceSet& data,
                                       int64_t min_area) {
  c10::InferenceMode guard;
  models::SamPredictor predictor(model);
  ClickEvalResult r;
  const auto variants = flood_variants();
  std::vector<double> flood(variants.size(), 0.0);
  for (int64_t i = 0; i < data.images.size(0); ++i) {
    const at::Tensor image = data.images[i];
    const auto ids = instance_ids(data.instances[i], min_area);
    if (ids.empty()) continue;
    predictor.set_image(image);
    const int64_t n = static_cast<int64_t>(ids.size());
    std::vector<at::Tensor> masks;
    at::Tensor points = at::empty({n, 1, 2}, at::kDouble);
    for (int64_t k = 0; k < n; ++k) {
      masks.push_back(data.instances[i] == ids[k]);
      const auto [x, y] = interior_point(masks.back());
      points[k][0][0] = static_cast<double>(x);
      points[k][0][1] = static_cast<double>(y);
      for (size_t v = 0; v < variants.size(); ++v)
        flood[v] += iou(colour_flood_fill(image, x, y, variants[v].first, variants[v].second), masks.back());
    }
    // All clicks of the image in one batch, as SamPredictor.predict_torch.
    const at::Tensor in_frame = models::sam_apply_coords(points, predictor.frame());
    const at::Tensor labels = at::ones({n, 1}, at::kInt);
    const auto single = predictor.predict_torch(in_frame, labels, {}, {}, false);
    const auto multi = predictor.predict_torch(in_frame, labels, {}, {}, true);
    const at::Tensor s = (single.masks > models::kSamMaskThreshold).to(at::kCPU);
    const at::Tensor m = (multi.masks > models::kSamMaskThreshold).to(at::kCPU);
    const at::Tensor pick = multi.iou_predictions.argmax(1).to(at::kCPU);
    for (int64_t k = 0; k < n; ++k) {
      r.single_iou += iou(s[k][0], masks[k]);
      double best = 0;
      for (int64_t j = 0; j < m.size(1); ++j) best = std::max(best, iou(m[k][j], masks[k]));
      r.best_of_3_iou += best;
      r.chosen_of_3_iou += iou(m[k][pick[k].item<int64_t>()], masks[k]);
    }
    r.instances += n;
  }
  if (r.instances == 0) return r;
  const double n = static_cast<double>(r.instances);
  r.single_iou /= n;
  r.best_of_3_iou /= n;
  r.chosen_of_3_iou /= n;
  const size_t best = static_cast<size_t>(std::max_element(flood.begin(), flood.end()) - flood.begin());
  r.flood_fill_iou = flood[best] / n;
  r.flood_tolerance = variants[best].first;
  r.flood_fixed_range = variants[best].second;
  return r;
}

}  // namespace ovseg::train
