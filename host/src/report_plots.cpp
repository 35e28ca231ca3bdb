// The report's SVG plots: grouped bars (metric per method and data set) and
// metric-vs-parameter lines for ablations over numeric axes.
#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "report_parts.hpp"

namespace ovseg::report {

namespace {

// A tick step of 1, 2 or 5 x 10^k giving about `target` ticks up to `top`.
double nice_step(double top, int target) {
  const double raw = std::max(top, 1e-9) / target;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw) return m * p;
  return 10 * p;
}

std::string fixed(double v, int decimals) { return num(v, decimals); }

// Horizontal grid lines and labels of a y axis from 0 to `top`.
void y_axis(std::ostringstream& os, double top, double step, int x0, int x1, int y0, int h, const std::string& label) {
  for (double v = 0; v <= top + 1e-9; v += step) {
    const double y = y0 + h - h * v / top;
    os << "<line x1='" << x0 << "' x2='" << x1 << "' y1='" << y << "' y2='" << y << "' stroke='#e3e3e3'/>"
       << "<text x='" << x0 - 6 << "' y='" << y + 4 << "' text-anchor='end' font-size='11' fill='#555'>"
       << fixed(v, step < 1 ? 1 : 0) << "</text>";
  }
  os << "<text transform='translate(14," << y0 + h / 2
     << ") rotate(-90)' text-anchor='middle' font-size='12' fill='#333'>" << esc(label) << "</text>";
}

}  // namespace

std::string grouped_bars(const ComparisonTable& t) {
  // The main metric's columns (not seen / unseen / per-class ones) and Avg.
  std::vector<size_t> cols;
  for (size_t c = 0; c < t.columns.size(); ++c) {
    const auto& col = t.columns[c];
    if (col.kind == ColumnKind::Average ||
        (col.kind == ColumnKind::Metric && col.class_name.empty() && col.metric == t.metric))
      cols.push_back(c);
  }
  std::vector<size_t> rows;
  for (size_t r = 0; r < t.rows.size(); ++r)
    for (size_t c : cols)
      if (t.rows[r].cells[c].value) {
        rows.push_back(r);
        break;
      }
  if (cols.empty() || rows.empty()) return "";
  // One colour per method: a published row and its reproduction (same label)
  // share it, the published one drawn lighter.
  std::vector<std::string> names;
  std::vector<size_t> colour(rows.size());
  for (size_t k = 0; k < rows.size(); ++k) {
    const std::string& label = t.rows[rows[k]].label;
    auto it = std::find(names.begin(), names.end(), label);
    if (it == names.end()) it = names.insert(names.end(), label);
    colour[k] = static_cast<size_t>(it - names.begin());
  }
  double top = 0;
  for (size_t r : rows)
    for (size_t c : cols)
      if (t.rows[r].cells[c].value) top = std::max(top, *t.rows[r].cells[c].value);
  const double step = nice_step(top, 5);
  top = std::max(step, std::ceil(top / step) * step);
  const int bar = std::clamp(static_cast<int>(560 / (cols.size() * rows.size())), 6, 26);
  const int gap = 24, left = 56, plot_h = 240, top_pad = 16;
  const int group_w = static_cast<int>(rows.size()) * bar + gap;
  const int plot_w = static_cast<int>(cols.size()) * group_w;
  const int legend_w = 230;
  const int legend_h = static_cast<int>(rows.size()) * 17 + 8;
  const int width = left + plot_w + 16 + legend_w;
  const int height = std::max(top_pad + plot_h + 40, legend_h + top_pad);
  std::ostringstream os;
  os << "<h3 style='font-size:14px;margin:8px 0'>" << esc(t.metric) << " per method and data set</h3>"
     << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height << "' font-size='11'>";
  y_axis(os, top, step, left, left + plot_w, top_pad, plot_h, t.metric + " (%)");
  for (size_t g = 0; g < cols.size(); ++g) {
    const int gx = left + static_cast<int>(g) * group_w + gap / 2;
    for (size_t k = 0; k < rows.size(); ++k) {
      const TableRow& row = t.rows[rows[k]];
      const auto& v = row.cells[cols[g]].value;
      if (!v) continue;
      const double h = plot_h * *v / top;
      const int x = gx + static_cast<int>(k) * bar;
      os << "<rect x='" << x << "' y='" << top_pad + plot_h - h << "' width='" << bar - 1 << "' height='" << h
         << "' fill='" << method_colour(colour[k]) << "'"
         << (row.published ? " fill-opacity='0.45' stroke='" + method_colour(colour[k]) + "'" : "") << "><title>"
         << esc(row.label) << ", " << esc(t.columns[cols[g]].flat_header()) << ": " << fixed(*v, t.decimals)
         << "</title></rect>";
      if (bar >= 18)
        os << "<text x='" << x + bar / 2.0 << "' y='" << top_pad + plot_h - h - 3
           << "' text-anchor='middle' font-size='9' fill='#333'>" << fixed(*v, t.decimals) << "</text>";
    }
    os << "<text x='" << gx + static_cast<int>(rows.size()) * bar / 2.0 << "' y='" << top_pad + plot_h + 16
       << "' text-anchor='middle' font-size='12' font-weight='600'>" << esc(t.columns[cols[g]].flat_header())
       << "</text>";
  }
  os << "<line x1='" << left << "' x2='" << left + plot_w << "' y1='" << top_pad + plot_h << "' y2='"
     << top_pad + plot_h << "' stroke='#333'/>";
  const int lx = left + plot_w + 16;
  for (size_t k = 0; k < rows.size(); ++k) {
    const TableRow& row = t.rows[rows[k]];
    const int y = top_pad + static_cast<int>(k) * 17;
    os << "<rect x='" << lx << "' y='" << y << "' width='12' height='12' fill='" << method_colour(colour[k]) << "'"
       << (row.published ? " fill-opacity='0.45'" : "") << "/><text x='" << lx + 17 << "' y='" << y + 10 << "'>"
       << esc(row.label) << (row.published ? " †" : "") << "</text>";
  }
  os << "</svg>";
  if (std::any_of(rows.begin(), rows.end(), [&](size_t r) { return t.rows[r].published; }))
    os << "<p class='cap'>Light bars (†): published numbers.</p>";
  return os.str();
}

std::string parameter_plots(const ComparisonTable& t) {
  if (t.kind != "ablation" || t.axes.empty()) return "";
  std::vector<size_t> metric_cols;
  for (size_t c = 0; c < t.columns.size(); ++c)
    if (t.columns[c].kind == ColumnKind::Metric && t.columns[c].metric == t.metric) metric_cols.push_back(c);
  std::ostringstream os;
  for (size_t a = 0; a < t.axes.size(); ++a) {
    // Numeric axes only: every value must read as a number.
    std::vector<double> xs;
    bool numeric = true;
    for (const auto& values : t.axis_values) {
      try {
        size_t used = 0;
        xs.push_back(std::stod(values[a], &used));
        numeric &= used == values[a].size();
      } catch (const std::exception&) {
        numeric = false;
      }
    }
    if (!numeric || xs.empty()) continue;
    // One line per data set and combination of the other axes' values.
    std::map<std::string, std::vector<std::pair<double, double>>> series;
    std::vector<std::string> order;
    for (size_t r = 0; r < t.rows.size(); ++r)
      for (size_t c : metric_cols) {
        const auto& v = t.rows[r].cells[c].value;
        if (!v) continue;
        std::string key = t.columns[c].flat_header();
        for (size_t b = 0; b < t.axes.size(); ++b)
          if (b != a) key += ", " + t.columns[b].header + "=" + t.rows[r].cells[b].text;
        if (!series.count(key)) order.push_back(key);
        series[key].push_back({xs[r], *v});
      }
    if (series.empty()) continue;
    if (order.size() > 10) order.resize(10);
    double xmin = *std::min_element(xs.begin(), xs.end()), xmax = *std::max_element(xs.begin(), xs.end());
    if (xmax == xmin) xmax = xmin + 1;
    double ymin = 1e9, ymax = -1e9;
    for (const auto& k : order)
      for (const auto& [x, y] : series[k]) ymin = std::min(ymin, y), ymax = std::max(ymax, y);
    const double span = std::max(1.0, ymax - ymin);
    const double step = nice_step(span * 1.2, 5);
    const double y_lo = std::floor((ymin - span * 0.1) / step) * step,
                 y_hi = std::ceil((ymax + span * 0.1) / step) * step;
    const int left = 60, top_pad = 14, w = 520, h = 240, legend_w = 280;
    const auto X = [&](double x) { return left + 10 + (w - 20) * (x - xmin) / (xmax - xmin); };
    const auto Y = [&](double y) { return top_pad + h - h * (y - y_lo) / (y_hi - y_lo); };
    const std::string axis = t.columns[a].header;
    os << "<h3 style='font-size:14px;margin:14px 0 8px'>" << esc(t.metric) << " against " << esc(axis) << " ("
       << esc(t.axes[a]) << ")</h3><svg xmlns='http://www.w3.org/2000/svg' width='" << left + w + 20 + legend_w
       << "' height='" << top_pad + h + 44 << "' font-size='11'>";
    for (double v = y_lo; v <= y_hi + 1e-9; v += step)
      os << "<line x1='" << left << "' x2='" << left + w << "' y1='" << Y(v) << "' y2='" << Y(v)
         << "' stroke='#e3e3e3'/>"
         << "<text x='" << left - 6 << "' y='" << Y(v) + 4 << "' text-anchor='end' fill='#555'>"
         << fixed(v, step < 1 ? 1 : 0) << "</text>";
    std::vector<double> ticks = xs;
    std::sort(ticks.begin(), ticks.end());
    ticks.erase(std::unique(ticks.begin(), ticks.end()), ticks.end());
    for (double x : ticks) {
      std::ostringstream label;
      label << x;
      os << "<line x1='" << X(x) << "' x2='" << X(x) << "' y1='" << top_pad + h << "' y2='" << top_pad + h + 4
         << "' stroke='#333'/><text x='" << X(x) << "' y='" << top_pad + h + 16 << "' text-anchor='middle'>"
         << label.str() << "</text>";
    }
    os << "<line x1='" << left << "' x2='" << left + w << "' y1='" << top_pad + h << "' y2='" << top_pad + h
       << "' stroke='#333'/><text x='" << left + w / 2 << "' y='" << top_pad + h + 34
       << "' text-anchor='middle' font-size='12'>" << esc(axis) << "</text>"
       << "<text transform='translate(14," << top_pad + h / 2 << ") rotate(-90)' text-anchor='middle' font-size='12'>"
       << esc(t.metric) << " (%)</text>";
    for (size_t k = 0; k < order.size(); ++k) {
      auto pts = series[order[k]];
      std::sort(pts.begin(), pts.end());
      std::ostringstream path;
      for (const auto& [x, y] : pts) path << (path.tellp() == 0 ? "M" : " L") << X(x) << "," << Y(y);
      os << "<path d='" << path.str() << "' fill='none' stroke='" << method_colour(k) << "' stroke-width='2'/>";
      for (const auto& [x, y] : pts)
        os << "<circle cx='" << X(x) << "' cy='" << Y(y) << "' r='3.5' fill='" << method_colour(k) << "'><title>"
           << esc(order[k]) << ": " << esc(axis) << "=" << x << ", " << fixed(y, t.decimals) << "</title></circle>";
      const int ly = top_pad + static_cast<int>(k) * 17;
      os << "<rect x='" << left + w + 20 << "' y='" << ly << "' width='12' height='12' fill='" << method_colour(k)
         << "'/><text x='" << left + w + 37 << "' y='" << ly + 10 << "'>" << esc(order[k]) << "</text>";
    }
    os << "</svg>";
  }
  return os.str();
}

}  // namespace ovseg::report
