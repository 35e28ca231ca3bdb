#pragma once
// SAM's predictor: segment_anything/predictor.py (SamPredictor) with
// utils/transforms.py (ResizeLongestSide) and Sam.preprocess /
// Sam.postprocess_masks, number for number:
//  * the image (8-bit RGB) is resized so its long side is the encoder's
//    input size, with Pillow's bilinear filter (what torchvision's resize
//    does to the PIL image the predictor makes), sizes rounded as
//    get_preprocess_shape rounds them;
//  * normalised with Sam.pixel_mean / pixel_std, zero-padded bottom/right;
//  * point and box prompts scaled into that frame (apply_coords);
//  * masks bilinearly upsampled to the padded input, cropped, resized to the
//    original image; a pixel is inside where its logit > kSamMaskThreshold.

#include <ovseg/models/sam_model.hpp>

#include <memory>
#include <utility>

namespace ovseg::models {

// Where an image sits in the encoder's input frame.
struct SamFrame {
  int64_t original_h = 0, original_w = 0;  // the image as given
  int64_t input_h = 0, input_w = 0;        // resized (long side = image_size)
  int64_t image_size = 0;                  // padded square the encoder sees
};

// ResizeLongestSide.get_preprocess_shape: (new_h, new_w).
std::pair<int64_t, int64_t> sam_preprocess_shape(int64_t h, int64_t w, int64_t long_side);
SamFrame sam_frame(int64_t original_h, int64_t original_w, int64_t image_size);

// Pillow's Image.resize(size, BILINEAR) on an 8-bit RGB image, exactly
// (two separable passes, fixed-point coefficients, 8-bit intermediate):
// (H,W,3) uint8 -> (new_h,new_w,3) uint8.
at::Tensor sam_resize_uint8(const at::Tensor& rgb_hwc, int64_t new_h, int64_t new_w);

// (3,H,W) or (1,3,H,W) float RGB in [0,1] -> (H,W,3) uint8 (round to the
// nearest 8-bit value: images read from 8-bit files come back exactly).
at::Tensor sam_image_to_uint8(const at::Tensor& rgb01);

// ResizeLongestSide.apply_image + Sam.preprocess: (H,W,3) uint8 ->
// (1,3,S,S) float32 normalised and padded; fills `frame`.
at::Tensor sam_preprocess_image(const at::Tensor& rgb_hwc, int64_t image_size, SamFrame* frame);

// ResizeLongestSide.apply_coords / apply_boxes: pixel (x, y) of the original
// image -> the input frame (float64 arithmetic; the predictor converts the
// result to float32, the automatic mask generator keeps float64).
at::Tensor sam_apply_coords(const at::Tensor& coords_xy, const SamFrame& frame, at::ScalarType dtype = at::kFloat);
at::Tensor sam_apply_boxes(const at::Tensor& boxes_xyxy, const SamFrame& frame);

// Sam.postprocess_masks: (B,M,h,w) low-res logits -> (B,M,H,W) logits at the
// original size.
at::Tensor sam_postprocess_masks(const at::Tensor& low_res, const SamFrame& frame);

// SamPredictor: one image's embeddings, then any number of prompts.
class SamPredictor {
 public:
  explicit SamPredictor(std::shared_ptr<const SamModel> model);

  // set_image: (H,W,3) uint8 RGB.
  void set_image(const at::Tensor& rgb_hwc);
  // Embeddings computed elsewhere (a pipeline's encoder node), for `frame`.
  void set_embeddings(const at::Tensor& features, const SamFrame& frame);
  bool has_image() const { return features_.defined(); }
  const at::Tensor& features() const { return features_; }  // (1, C, g, g)
  const SamFrame& frame() const { return frame_; }
  const SamModel& model() const { return *model_; }

  struct Result {
    at::Tensor masks;            // (B,M,H,W) logits at the original size (return_logits=True)
    at::Tensor iou_predictions;  // (B,M)
    at::Tensor low_res_logits;   // (B,M,4g,4g)
  };
  // predict_torch: B prompts already in the input frame; any part may be
  // undefined. points (B,N,2), labels (B,N), boxes (B,4), mask_input (B,1,4g,4g).
  Result predict_torch(const at::Tensor& points, const at::Tensor& labels, const at::Tensor& boxes,
                       const at::Tensor& mask_input, bool multimask_output) const;
  // predict: one prompt in original-image pixels: points (N,2), labels (N),
  // box (4), mask_input (1,4g,4g); results without the leading batch axis.
  Result predict(const at::Tensor& points, const at::Tensor& labels, const at::Tensor& box,
                 const at::Tensor& mask_input, bool multimask_output) const;

 private:
  std::shared_ptr<const SamModel> model_;
  at::Tensor features_;
  SamFrame frame_;
};

}  // namespace ovseg::models
