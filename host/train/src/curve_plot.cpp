#include "curve_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace ovseg::train {

namespace {

const cv::Scalar kColours[] = {{187, 126, 74}, {40, 120, 230}, {60, 160, 60},
                               {40, 40, 200},  {160, 80, 160}, {120, 120, 120}};  // BGR

std::string short_number(double v) {
  char buf[32];
  if (v != 0 && (std::fabs(v) < 1e-2 || std::fabs(v) >= 1e4))
    std::snprintf(buf, sizeof buf, "%.2e", v);
  else
    std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

void draw_panel(cv::Mat& canvas, const cv::Rect& area, const CurvePanel& panel) {
  const int left = 70, right = 170, top = 26, bottom = 24;
  const cv::Rect plot(area.x + left, area.y + top, area.width - left - right, area.height - top - bottom);
  cv::putText(canvas, panel.title, {area.x + left, area.y + 18}, cv::FONT_HERSHEY_SIMPLEX, 0.5, {0, 0, 0}, 1,
              cv::LINE_AA);
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& s : panel.series)
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
    }
  cv::rectangle(canvas, plot, {0, 0, 0}, 1);
  if (!std::isfinite(x0)) {
    cv::putText(canvas, "(no data)", {plot.x + 10, plot.y + plot.height / 2}, cv::FONT_HERSHEY_SIMPLEX, 0.5,
                {90, 90, 90}, 1, cv::LINE_AA);
    return;
  }
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1, y0 -= 1;
  const double pad = 0.05 * (y1 - y0);
  y0 -= pad, y1 += pad;
  auto px = [&](double x) { return plot.x + static_cast<int>((x - x0) / (x1 - x0) * plot.width); };
  auto py = [&](double y) { return plot.y + plot.height - static_cast<int>((y - y0) / (y1 - y0) * plot.height); };
  for (int k = 0; k <= 4; ++k) {  // horizontal grid with labels
    const double y = y0 + (y1 - y0) * k / 4;
    cv::line(canvas, {plot.x, py(y)}, {plot.x + plot.width, py(y)}, {225, 225, 225}, 1);
    cv::putText(canvas, short_number(y), {area.x + 4, py(y) + 4}, cv::FONT_HERSHEY_SIMPLEX, 0.38, {60, 60, 60}, 1,
                cv::LINE_AA);
  }
  cv::putText(canvas, short_number(x0), {plot.x, plot.y + plot.height + 16}, cv::FONT_HERSHEY_SIMPLEX, 0.38,
              {60, 60, 60}, 1, cv::LINE_AA);
  cv::putText(canvas, "step " + short_number(x1), {plot.x + plot.width - 70, plot.y + plot.height + 16},
              cv::FONT_HERSHEY_SIMPLEX, 0.38, {60, 60, 60}, 1, cv::LINE_AA);
  for (size_t k = 0; k < panel.series.size(); ++k) {
    const auto& s = panel.series[k];
    const cv::Scalar colour = kColours[k % 6];
    std::vector<cv::Point> pts;
    for (size_t i = 0; i < s.x.size(); ++i)
      if (std::isfinite(s.y[i])) pts.emplace_back(px(s.x[i]), py(s.y[i]));
    if (pts.size() == 1) cv::circle(canvas, pts[0], 3, colour, cv::FILLED, cv::LINE_AA);
    if (pts.size() > 1) cv::polylines(canvas, pts, false, colour, 1, cv::LINE_AA);
    for (const auto& p : pts)
      if (s.x.size() <= 40) cv::circle(canvas, p, 2, colour, cv::FILLED, cv::LINE_AA);
    const std::string last = s.y.empty() ? "" : " " + short_number(s.y.back());
    const int ly = plot.y + 14 + 18 * static_cast<int>(k);
    cv::line(canvas, {plot.x + plot.width + 10, ly - 4}, {plot.x + plot.width + 28, ly - 4}, colour, 2);
    cv::putText(canvas, s.name + last, {plot.x + plot.width + 32, ly}, cv::FONT_HERSHEY_SIMPLEX, 0.4, {0, 0, 0}, 1,
                cv::LINE_AA);
  }
}

}  // namespace

void plot_curves(const std::string& path, const std::vector<CurvePanel>& panels) {
  const int width = 900, height = 260;
  cv::Mat canvas(height * static_cast<int>(std::max<size_t>(1, panels.size())), width, CV_8UC3,
                 cv::Scalar(255, 255, 255));
  for (size_t i = 0; i < panels.size(); ++i)
    draw_panel(canvas, cv::Rect(0, static_cast<int>(i) * height, width, height), panels[i]);
  if (!cv::imwrite(path, canvas)) throw std::runtime_error("cannot write " + path);
}

}  // namespace ovseg::train
