// SamPredictor, as segment_anything/predictor.py: set_image computes the
// embeddings once; predict / predict_torch run the prompt encoder and the
// mask decoder and bring the masks back to the image.
#include <ovseg/models/sam_predictor.hpp>

#include <stdexcept>

namespace ovseg::models {

SamPredictor::SamPredictor(std::shared_ptr<const SamModel> model) : model_(std::move(model)) {
  if (!model_) throw std::invalid_argument("SamPredictor: no model");
}

void SamPredictor::set_image(const at::Tensor& rgb_hwc) {
  const at::Tensor pixels = sam_preprocess_image(rgb_hwc, model_->geometry().image_size, &frame_);
  features_ = model_->encode_image(pixels.to(model_->device()));
}

void SamPredictor::set_embeddings(const at::Tensor& features, const SamFrame& frame) {
  const auto& g = model_->geometry();
  if (features.dim() != 4 || features.size(0) != 1 || features.size(1) != g.embed_dim ||
      features.size(2) != g.embedding_grid || features.size(3) != g.embedding_grid)
    throw std::invalid_argument("SamPredictor: embeddings of shape " + shape_string(features.sizes()) +
                                " do not fit the model (expected (1, " + std::to_string(g.embed_dim) + ", " +
                                std::to_string(g.embedding_grid) + ", " + std::to_string(g.embedding_grid) + "))");
  features_ = features;
  frame_ = frame;
}

SamPredictor::Result SamPredictor::predict_torch(const at::Tensor& points, const at::Tensor& labels,
                                                 const at::Tensor& boxes, const at::Tensor& mask_input,
                                                 bool multimask_output) const {
  if (!has_image()) throw std::runtime_error("SamPredictor: set an image before predicting");
  const at::Device d = model_->device();
  auto on = [&](const at::Tensor& t) { return t.defined() ? t.to(d) : t; };
  const SamPromptEmbeddings e = model_->encode_prompts(on(points), on(labels), on(boxes), on(mask_input));
  const SamMaskOutput o = model_->decode_masks(features_, e, multimask_output);
  Result r;
  r.masks = sam_postprocess_masks(o.low_res_masks, frame_);
  r.iou_predictions = o.iou_predictions;
  r.low_res_logits = o.low_res_masks;
  return r;
}

SamPredictor::Result SamPredictor::predict(const at::Tensor& points, const at::Tensor& labels, const at::Tensor& box,
                                           const at::Tensor& mask_input, bool multimask_output) const {
  if (points.defined() && !labels.defined())
    throw std::invalid_argument("SamPredictor::predict: point_labels must be supplied with point_coords");
  at::Tensor p, l, b, m;
  if (points.defined()) {
    p = sam_apply_coords(points, frame_).unsqueeze(0);
    l = labels.to(at::kInt).unsqueeze(0);
  }
  if (box.defined()) b = sam_apply_boxes(box, frame_);  // (1, 4)
  if (mask_input.defined()) m = mask_input.to(at::kFloat).unsqueeze(0);
  Result r = predict_torch(p, l, b, m, multimask_output);
  r.masks = r.masks[0];
  r.iou_predictions = r.iou_predictions[0];
  r.low_res_logits = r.low_res_logits[0];
  return r;
}

}  // namespace ovseg::models
