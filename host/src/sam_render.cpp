#include "ovseg/host/sam_render.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "ovseg/host/image_io.hpp"
#include "ovseg/host/qualitative.hpp"
#include "ovseg/models/sam_predictor.hpp"
#include "ovseg/sdk/diagnostics.hpp"
#include "ovseg/sdk/stage.hpp"
#include "ovseg/sdk/atomic_file.hpp"

namespace ovseg {
namespace {

cv::Mat to_bgr(const at::Tensor& image) {
  at::Tensor x = image.dim() == 4 ? image[0] : image;
  expect_shape(x, {3, -1, -1}, "overlay image");
  x = (x.to(at::kCPU, at::kFloat) * 255.0).round().clamp(0, 255).to(at::kByte).permute({1, 2, 0}).contiguous();
  cv::Mat rgb(static_cast<int>(x.size(0)), static_cast<int>(x.size(1)), CV_8UC3, x.data_ptr<uint8_t>());
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  return bgr;
}

int scale_for(const cv::Mat& m, int min_side) {
  const int short_side = std::max(1, std::min(m.rows, m.cols));
  return std::max(1, (min_side + short_side - 1) / short_side);
}

cv::Mat render(const SamOverlay& o, cv::Mat* plain) {
  cv::Mat bgr = to_bgr(o.image);
  const int s = scale_for(bgr, o.min_side);
  if (s > 1) cv::resize(bgr, bgr, cv::Size(), s, s, cv::INTER_NEAREST);
  if (plain) *plain = bgr.clone();
  cv::Mat out = bgr.clone();
  if (o.masks.defined() && o.masks.numel() > 0) {
    expect_shape(o.masks, {-1, -1, -1}, "overlay masks");
    at::Tensor m = o.masks.to(at::kCPU, at::kBool);
    for (int64_t i = m.size(0) - 1; i >= 0; --i) {  // the first mask ends on top
      at::Tensor mi = m[i].to(at::kByte).contiguous();
      cv::Mat mask(static_cast<int>(mi.size(0)), static_cast<int>(mi.size(1)), CV_8UC1, mi.data_ptr<uint8_t>());
      cv::Mat big;
      cv::resize(mask, big, out.size(), 0, 0, cv::INTER_NEAREST);
      uint8_t rgb[3];
      palette_rgb(i + 1, rgb);
      const cv::Vec3b colour(rgb[2], rgb[1], rgb[0]);
      for (int y = 0; y < out.rows; ++y)
        for (int x = 0; x < out.cols; ++x)
          if (big.at<uint8_t>(y, x)) {
            cv::Vec3b& p = out.at<cv::Vec3b>(y, x);
            for (int c = 0; c < 3; ++c) p[c] = cv::saturate_cast<uint8_t>((1 - o.alpha) * p[c] + o.alpha * colour[c]);
          }
      // Outline, so touching masks stay apart.
      std::vector<std::vector<cv::Point>> contours;
      cv::findContours(big, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
      cv::drawContours(out, contours, -1, colour, std::max(1, s / 2));
    }
  }
  const int r = std::max(3, 2 * s);
  if (o.boxes.defined())
    for (int64_t i = 0; i < o.boxes.size(0); ++i) {
      const auto b = o.boxes[i].to(at::kCPU, at::kDouble);
      cv::rectangle(out, cv::Point(int(b[0].item<double>() * s), int(b[1].item<double>() * s)),
                    cv::Point(int(b[2].item<double>() * s), int(b[3].item<double>() * s)), cv::Scalar(255, 255, 255),
                    std::max(1, s / 2));
    }
  if (o.points.defined())
    for (int64_t i = 0; i < o.points.size(0); ++i) {
      const auto p = o.points[i].to(at::kCPU, at::kDouble);
      const bool fg = !o.labels.defined() || o.labels[i].item<int64_t>() != 0;
      const cv::Point c(int((p[0].item<double>() + 0.5) * s), int((p[1].item<double>() + 0.5) * s));
      cv::circle(out, c, r + 1, cv::Scalar(255, 255, 255), cv::FILLED, cv::LINE_AA);
      cv::circle(out, c, r, fg ? cv::Scalar(40, 200, 40) : cv::Scalar(40, 40, 220), cv::FILLED, cv::LINE_AA);
    }
  return out;
}

std::vector<unsigned char> encode_png(const cv::Mat& m) {
  std::vector<unsigned char> png;
  if (!cv::imencode(".png", m, png)) throw std::runtime_error("cannot encode the SAM overlay as PNG");
  return png;
}

}  // namespace

std::vector<unsigned char> render_sam_overlay_png(const SamOverlay& overlay) {
  return encode_png(render(overlay, nullptr));
}

void write_sam_overlay_png(const std::string& path, const SamOverlay& overlay) {
  const std::vector<unsigned char> png = render_sam_overlay_png(overlay);
  write_text_atomically(path, std::string(png.begin(), png.end()));
}

std::string sam_overlay_strip_base64(const SamOverlay& overlay) {
  cv::Mat plain;
  const cv::Mat drawn = render(overlay, &plain);
  cv::Mat strip;
  cv::hconcat(std::vector<cv::Mat>{plain, drawn}, strip);
  return base64_encode(encode_png(strip));
}

std::string sam_click_example_base64(std::shared_ptr<const models::SamModel> model, const at::Tensor& image, double x,
                                     double y, int min_side, double* predicted_iou) {
  models::SamPredictor predictor(std::move(model));
  predictor.set_image(models::sam_image_to_uint8(image));
  const at::Tensor point = at::tensor({x, y}, at::kDouble).view({1, 2});
  const at::Tensor label = at::ones({1}, at::kLong);
  const auto r = predictor.predict(point, label, {}, {}, /*multimask_output=*/false);
  if (predicted_iou) *predicted_iou = r.iou_predictions[0].item<double>();
  SamOverlay o{image, (r.masks > models::kSamMaskThreshold).to(at::kCPU), point, label, {}, 0.5, min_side};
  return sam_overlay_strip_base64(o);
}

}  // namespace ovseg
