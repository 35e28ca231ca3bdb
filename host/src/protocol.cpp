#include "ovseg/host/protocol.hpp"

#include <algorithm>

#include "ovseg/sdk/diagnostics.hpp"

namespace ovseg {

namespace {

int int_knob(const std::string& name, const SpecValue& v, int min_value) {
  const auto* i = std::get_if<int64_t>(&v.value);
  if (i == nullptr)
    throw Error(v.where, "", "protocol knob '" + name + "' must be an integer, got " + format_param_value(v.value),
                "write e.g. " + name + " = 336");
  if (*i < min_value || *i > 1'000'000)
    throw Error(v.where, "",
                "protocol knob '" + name + "' = " + std::to_string(*i) + " is out of range [" +
                    std::to_string(min_value) + ", 1000000]");
  return static_cast<int>(*i);
}

double fraction_knob(const std::string& name, const SpecValue& v) {
  double x = 0;
  if (const auto* d = std::get_if<double>(&v.value))
    x = *d;
  else if (const auto* i = std::get_if<int64_t>(&v.value))
    x = static_cast<double>(*i);
  else
    throw Error(v.where, "", "protocol knob '" + name + "' must be a number, got " + format_param_value(v.value),
                "write e.g. " + name + " = 0.1");
  if (!(x >= 0.0 && x <= 1.0))
    throw Error(v.where, "",
                "protocol knob '" + name + "' = " + format_param_value(v.value) + " is out of range [0, 1]");
  return x;
}

}  // namespace

const std::vector<std::string>& protocol_knobs() {
  static const std::vector<std::string> knobs = {"mode",   "short_side", "max_long_side", "window",
                                                 "stride", "prob_thd",   "area_thd"};
  return knobs;
}

nlohmann::json Protocol::to_json() const {
  return {{"mode", mode},        {"short_side", short_side}, {"max_long_side", max_long_side},
          {"window", window},    {"stride", stride},         {"prob_thd", prob_thd},
          {"area_thd", area_thd}};
}

Protocol Protocol::from_json(const nlohmann::json& j) {
  Protocol p;
  p.mode = j.value("mode", p.mode);
  p.short_side = j.value("short_side", p.short_side);
  p.max_long_side = j.value("max_long_side", p.max_long_side);
  p.window = j.value("window", p.window);
  p.stride = j.value("stride", p.stride);
  p.prob_thd = j.value("prob_thd", p.prob_thd);
  p.area_thd = j.value("area_thd", p.area_thd);
  return p;
}

Protocol parse_protocol(const PipelineSpec& spec) {
  Protocol p;
  for (const auto& [name, v] : spec.protocol) {
    if (name == "mode") {
      const auto* s = std::get_if<std::string>(&v.value);
      if (s == nullptr || (*s != "slide" && *s != "whole"))
        throw Error(v.where, "",
                    "protocol knob 'mode' must be \"slide\" or \"whole\", got " + format_param_value(v.value));
      p.mode = *s;
    } else if (name == "short_side") {
      p.short_side = int_knob(name, v, 0);
    } else if (name == "max_long_side") {
      p.max_long_side = int_knob(name, v, 1);
    } else if (name == "window") {
      p.window = int_knob(name, v, 1);
    } else if (name == "stride") {
      p.stride = int_knob(name, v, 1);
    } else if (name == "prob_thd") {
      p.prob_thd = fraction_knob(name, v);
    } else if (name == "area_thd") {
      p.area_thd = fraction_knob(name, v);
    } else {
      throw Error(v.where, "", "unknown protocol knob '" + name + "'" + did_you_mean(name, protocol_knobs()),
                  "knobs: mode, short_side, max_long_side, window, stride, prob_thd, area_thd");
    }
  }
  return p;
}

std::pair<int, int> rescale_size(int w, int h, const Protocol& p) {
  if (p.short_side == 0) return {w, h};
  // Python floats are doubles: the same arithmetic as mmcv.
  const double long_edge = std::max(p.max_long_side, p.short_side);
  const double short_edge = std::min(p.max_long_side, p.short_side);
  const double f = std::min(long_edge / std::max(h, w), short_edge / std::min(h, w));
  return {static_cast<int>(w * f + 0.5), static_cast<int>(h * f + 0.5)};
}

std::vector<Window> slide_windows(int height, int width, int window, int stride) {
  const int h_grids = std::max(height - window + stride - 1, 0) / stride + 1;
  const int w_grids = std::max(width - window + stride - 1, 0) / stride + 1;
  std::vector<Window> out;
  out.reserve(static_cast<size_t>(h_grids) * w_grids);
  for (int i = 0; i < h_grids; ++i) {
    for (int j = 0; j < w_grids; ++j) {
      int y1 = i * stride, x1 = j * stride;
      const int y2 = std::min(y1 + window, height), x2 = std::min(x1 + window, width);
      y1 = std::max(y2 - window, 0);
      x1 = std::max(x2 - window, 0);
      out.push_back({y1, y2, x1, x2});
    }
  }
  return out;
}

}  // namespace ovseg
