// The inference protocol, owned by the harness and identical for every
// pipeline: how an image is resized, cut into windows and put back together.
// It is the `[protocol]` table of a pipeline TOML; every knob has a default
// and every knob is written into each results record, because these knobs
// decide whether two numbers are comparable (DESIGN.md section 6).
//
//   mode          "slide" (default) | "whole"
//   short_side    resize so the short side is this (0 = keep the size); 336
//   max_long_side long-side cap of mmseg's Resize(scale=(max_long_side,
//                 short_side), keep_ratio=True); 2048
//   window        sliding-window size (square); 224
//   stride        sliding-window stride; 112
//   prob_thd      background by confidence (SCLIP/NACLIP/ClearCLIP's
//                 prob_thd): pixels whose top softmax probability over the
//                 final logits is below this become class 0; 0 = off
//   area_thd      background by area (their area_thd): a class other than 0
//                 predicted on at most this fraction of the image's non-zero-class
//                 pixels has its probability zeroed before the argmax; 0 = off
// Both background knobs act on the logits at label size, softmax over the
// classes (the logits already carry the logit scale), exactly in the order of
// SCLIP's postprocess_result: area, argmax, probability threshold.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ovseg/host/pipeline_spec.hpp"

namespace ovseg {

struct Protocol {
  std::string mode = "slide";
  int short_side = 336;
  int max_long_side = 2048;
  int window = 224;
  int stride = 112;
  double prob_thd = 0.0;
  double area_thd = 0.0;
  bool background_handling() const { return prob_thd > 0 || area_thd > 0; }

  // {"mode": "slide", "short_side": 336, ...}: every knob, defaults included.
  nlohmann::json to_json() const;
  static Protocol from_json(const nlohmann::json& j);
  bool operator==(const Protocol& o) const { return to_json() == o.to_json(); }
};

// The knob names, for "did you mean" and documentation.
const std::vector<std::string>& protocol_knobs();

// Reads spec.protocol; throws ovseg::Error with file:line:column for an
// unknown knob (nearest name suggested), a wrong type or an out-of-range
// value. Knobs not given keep their defaults.
Protocol parse_protocol(const PipelineSpec& spec);

// mmcv.rescale_size(old_size=(w, h), scale=(max_long_side, short_side)) as
// mmseg's Resize(keep_ratio=True) calls it:
//   f = min(max(scale) / max(h, w), min(scale) / min(h, w))
//   new (w, h) = (int(w * f + 0.5), int(h * f + 0.5)).
// short_side == 0 keeps the size. Returns {new_w, new_h}.
std::pair<int, int> rescale_size(int w, int h, const Protocol& p);

// One crop of slide inference: rows [y1, y2), columns [x1, x2).
struct Window {
  int y1, y2, x1, x2;
  bool operator==(const Window& o) const { return y1 == o.y1 && y2 == o.y2 && x1 == o.x1 && x2 == o.x2; }
};

// The windows of SCLIP's / NACLIP's / mmseg's slide_inference, in their
// order (rows outer, columns inner):
//   h_grids = max(H - win + stride - 1, 0) // stride + 1   (same for w)
//   y1 = i * stride; y2 = min(y1 + win, H); y1 = max(y2 - win, 0)
// Every window has the same size, min(win, H) x min(win, W).
std::vector<Window> slide_windows(int height, int width, int window, int stride);

}  // namespace ovseg
