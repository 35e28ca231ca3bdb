// Pictures of SAM results: masks blended over the image in palette colours
// with the prompts drawn (foreground clicks green, background clicks red,
// boxes white), as PNG files or base64 for self-contained HTML reports.
// OpenCV stays inside sam_render.cpp.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

namespace ovseg {
namespace models {
class SamModel;
}

struct SamOverlay {
  at::Tensor image;    // (1,3,H,W) or (3,H,W) float RGB in [0,1]
  at::Tensor masks;    // (N,H,W) bool; mask i drawn in palette colour i+1, the first on top
  at::Tensor points;   // (K,2) x, y in image pixels; may be undefined
  at::Tensor labels;   // (K) 1 foreground / 0 background; may be undefined
  at::Tensor boxes;    // (M,4) x0, y0, x1, y1; may be undefined
  double alpha = 0.5;  // mask colour weight
  int min_side = 0;    // upscale (nearest) until the short side reaches this: small images stay legible
};

// PNG bytes of the overlay.
std::vector<unsigned char> render_sam_overlay_png(const SamOverlay& overlay);
void write_sam_overlay_png(const std::string& path, const SamOverlay& overlay);
// The image and the overlay side by side, as base64 PNG (an <img src="data:image/png;base64,...">).
std::string sam_overlay_strip_base64(const SamOverlay& overlay);

// A point -> mask example for reports: SAM's single-mask answer to one
// foreground click at (x, y) on `image` (1,3,H,W) in [0,1], drawn with the
// click beside the plain image; base64 PNG. `iou` (optional) receives the
// mask's predicted IoU.
std::string sam_click_example_base64(std::shared_ptr<const models::SamModel> model, const at::Tensor& image, double x,
                                     double y, int min_side = 256, double* predicted_iou = nullptr);

}  // namespace ovseg
