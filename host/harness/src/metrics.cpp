#include "ovseg/harness/metrics.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace ovseg::harness {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}

double nanmean(const std::vector<double>& v) {
  double s = 0;
  int n = 0;
  for (double x : v)
    if (!std::isnan(x)) {
      s += x;
      ++n;
    }
  return n ? s / n : kNaN;
}

SegmentationMetrics compute_metrics(const ConfusionMatrix& cm) {
  const int k = cm.num_classes();
  SegmentationMetrics m;
  m.iou.assign(k, kNaN);
  m.accuracy.assign(k, kNaN);
  m.gt_pixels.assign(k, 0);
  m.pred_pixels.assign(k, 0);
  std::int64_t total = 0, correct = 0;
  for (int c = 0; c < k; ++c) {
    m.gt_pixels[c] = cm.gt_count(c);
    m.pred_pixels[c] = cm.pred_count(c);
    total += m.gt_pixels[c];
  }
  for (int c = 0; c < k; ++c) {
    const std::int64_t tp = cm.at(c, c);
    correct += tp;
    const std::int64_t uni = m.gt_pixels[c] + m.pred_pixels[c] - tp;
    if (uni > 0) m.iou[c] = 100.0 * static_cast<double>(tp) / static_cast<double>(uni);
    if (m.gt_pixels[c] > 0) m.accuracy[c] = 100.0 * static_cast<double>(tp) / static_cast<double>(m.gt_pixels[c]);
    if (!std::isnan(m.iou[c])) ++m.num_valid_classes;
  }
  m.miou = nanmean(m.iou);
  m.macc = nanmean(m.accuracy);
  if (total > 0) {
    m.aacc = 100.0 * static_cast<double>(correct) / static_cast<double>(total);
    double fw = 0;
    for (int c = 0; c < k; ++c)
      if (m.gt_pixels[c] > 0) fw += static_cast<double>(m.gt_pixels[c]) / static_cast<double>(total) * m.iou[c];
    m.fwiou = fw;
  } else {
    m.aacc = kNaN;
    m.fwiou = kNaN;
  }
  return m;
}

namespace {
nlohmann::json num(double x) { return std::isnan(x) ? nlohmann::json(nullptr) : nlohmann::json(x); }
}  // namespace

nlohmann::json metrics_to_json(const SegmentationMetrics& m, const std::vector<std::string>& names) {
  if (!names.empty() && names.size() != m.iou.size())
    throw std::invalid_argument("metrics_to_json: " + std::to_string(names.size()) + " names for " +
                                std::to_string(m.iou.size()) + " classes");
  nlohmann::json per = nlohmann::json::array();
  for (std::size_t c = 0; c < m.iou.size(); ++c) {
    nlohmann::json e;
    if (!names.empty()) e["name"] = names[c];
    e["iou"] = num(m.iou[c]);
    e["acc"] = num(m.accuracy[c]);
    e["gt_pixels"] = m.gt_pixels[c];
    e["pred_pixels"] = m.pred_pixels[c];
    per.push_back(std::move(e));
  }
  return nlohmann::json{{"mIoU", num(m.miou)},
                        {"mAcc", num(m.macc)},
                        {"aAcc", num(m.aacc)},
                        {"fwIoU", num(m.fwiou)},
                        {"num_valid_classes", m.num_valid_classes},
                        {"per_class", std::move(per)}};
}

}  // namespace ovseg::harness
