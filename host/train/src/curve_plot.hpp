// Internal to `ovseg train`: line plots of training curves as a PNG (OpenCV
// drawing only, so no plotting library is needed).
#pragma once

#include <string>
#include <vector>

namespace ovseg::train {

struct CurveSeries {
  std::string name;
  std::vector<double> x, y;
};

struct CurvePanel {
  std::string title;
  std::vector<CurveSeries> series;
};

// Panels stacked vertically, each with its axes' ranges, a legend and the
// last value of every series. Throws std::runtime_error if the file cannot
// be written.
void plot_curves(const std::string& path, const std::vector<CurvePanel>& panels);

}  // namespace ovseg::train
