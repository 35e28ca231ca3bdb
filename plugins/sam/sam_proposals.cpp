// Mask proposals: sam_auto_masks (segment_anything's SamAutomaticMaskGenerator
// with its defaults) and sam_masks_to_logits, which turns any Masks value
// into Logits (one channel per mask plus a background channel) so a SAM
// pipeline ends in a label map like every other pipeline (`ovseg run`
// overlays, argmax, the harness).
#include <ovseg/sdk.hpp>
#include <ovseg/sdk/stage_capabilities.hpp>

#include "ovseg/models/sam_auto_masks.hpp"
#include "sam_shared.hpp"

namespace {

using namespace ovseg;

class SamAutoMasks : public Stage {
 public:
  static PluginDescriptor describe() {
    const models::SamAutoMaskOptions d;  // SamAutomaticMaskGenerator's defaults
    PluginDescriptor desc("sam_auto_masks", StageKind::Fusion,
                          "SAM automatic mask generator: point grid, IoU / stability filters, NMS -> mask proposals");
    // N is the batch's largest proposal count: windows of other images
    // would change an image's mask channels.
    declare_capabilities(desc).couples_batch();
    return desc.input("image", PortType::Image, "images (B,3,H,W) RGB in [0,1]")
        .input("model", PortType::Model, "the SAM model (sam_image_encoder's 'model')")
        .input("embeddings", PortType::FeatureMap, "the image embeddings, reused for the whole-image crop", true)
        .output("masks", PortType::Masks,
                "(B, N, H, W) proposals, best predicted IoU first: logits (> 0 inside), predicted IoU as scores; "
                "images with fewer than N proposals are padded with empty masks of score 0")
        .param("points_per_side", d.points_per_side, "grid points per image side")
        .range(1, 1024)
        .param("points_per_batch", d.points_per_batch, "points decoded at once (memory vs speed)")
        .range(1, std::nullopt)
        .param("pred_iou_thresh", d.pred_iou_thresh, "keep masks whose predicted IoU exceeds this (0 = off)")
        .param("stability_score_thresh", d.stability_score_thresh, "keep masks at least this stable (0 = off)")
        .param("stability_score_offset", d.stability_score_offset, "logit offset of the stability score")
        .range(0, std::nullopt)
        .param("box_nms_thresh", d.box_nms_thresh, "box IoU above which duplicates are dropped")
        .range(0, 1)
        .param("crop_n_layers", d.crop_n_layers, "crop layers run again on image crops (layer i: 4^i crops)")
        .range(0, 4)
        .param("crop_nms_thresh", d.crop_nms_thresh, "box IoU for duplicates between crops")
        .range(0, 1)
        .param("crop_overlap_ratio", d.crop_overlap_ratio, "crop overlap as a fraction of the short side")
        .range(0, 1)
        .param("crop_n_points_downscale_factor", d.crop_n_points_downscale_factor,
               "points per side in crop layer i: points_per_side / factor^i")
        .range(1, std::nullopt)
        .param("min_mask_region_area", d.min_mask_region_area,
               "remove holes and islands smaller than this (pixels; 0 = off)")
        .range(0, std::nullopt);
  }

  explicit SamAutoMasks(const StageInit& init) {
    const Params& p = init.params;
    o_.points_per_side = p.get_int("points_per_side");
    o_.points_per_batch = p.get_int("points_per_batch");
    o_.pred_iou_thresh = p.get_float("pred_iou_thresh");
    o_.stability_score_thresh = p.get_float("stability_score_thresh");
    o_.stability_score_offset = p.get_float("stability_score_offset");
    o_.box_nms_thresh = p.get_float("box_nms_thresh");
    o_.crop_n_layers = p.get_int("crop_n_layers");
    o_.crop_nms_thresh = p.get_float("crop_nms_thresh");
    o_.crop_overlap_ratio = p.get_float("crop_overlap_ratio");
    o_.crop_n_points_downscale_factor = p.get_int("crop_n_points_downscale_factor");
    o_.min_mask_region_area = p.get_int("min_mask_region_area");
  }

  void run(StageContext& ctx) override {
    const auto model = sam_plugins::sam_model_input(ctx, "model");
    const at::Tensor& img = ctx.input<Image>("image").pixels;
    expect_shape(img, {-1, 3, -1, -1}, "node '" + ctx.node_id() + "' input 'image'");
    const int64_t B = img.size(0), H = img.size(2), W = img.size(3);
    at::Tensor emb;
    if (ctx.has_input("embeddings")) {
      const auto& g = model->geometry();
      emb = ctx.input<FeatureMap>("embeddings").features;
      expect_shape(emb, {B, g.embed_dim, g.embedding_grid, g.embedding_grid},
                   "node '" + ctx.node_id() + "' input 'embeddings'");
    }
    std::vector<std::vector<models::SamMaskRecord>> per_image;
    size_t most = 0;
    for (int64_t b = 0; b < B; ++b) {
      per_image.push_back(models::sam_generate_masks(model, models::sam_image_to_uint8(img[b]), o_,
                                                     emb.defined() ? emb.narrow(0, b, 1) : at::Tensor()));
      most = std::max(most, per_image.back().size());
    }
    const auto f32 = at::TensorOptions().dtype(at::kFloat);
    Masks out;
    out.logits = at::full({B, static_cast<int64_t>(most), H, W}, models::kSamOutsideCropLogit, f32);
    out.scores = at::zeros({B, static_cast<int64_t>(most)}, f32);
    for (int64_t b = 0; b < B; ++b)
      for (size_t i = 0; i < per_image[b].size(); ++i) {
        out.logits[b][static_cast<int64_t>(i)].copy_(per_image[b][i].logits);
        out.scores[b][static_cast<int64_t>(i)] = per_image[b][i].predicted_iou;
      }
    out.logits = out.logits.to(ctx.device());
    out.scores = out.scores.to(ctx.device());
    ctx.set_output("masks", out);
  }

 private:
  models::SamAutoMaskOptions o_;
};

class SamMasksToLogits : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("sam_masks_to_logits", StageKind::Postprocess,
                            "masks -> logits: a background channel plus one channel per mask (argmax = best mask)")
        .input("masks", PortType::Masks, "(B,N,H,W) mask logits")
        .output("logits", PortType::Logits, "(B,1+N,H,W): channel 0 'background' = `background`, then 'mask_i'")
        .param("background", 0.0, "the background channel's value: pixels no mask logit exceeds are background");
  }
  explicit SamMasksToLogits(const StageInit& init) : background_(init.params.get_float("background")) {}

  void run(StageContext& ctx) override {
    const at::Tensor& m = ctx.input<Masks>("masks").logits;
    expect_shape(m, {-1, -1, -1, -1}, "node '" + ctx.node_id() + "' input 'masks' logits");
    Logits out;
    out.logits = at::cat({at::full({m.size(0), 1, m.size(2), m.size(3)}, background_, m.options()), m}, 1);
    out.class_names.push_back("background");
    for (int64_t i = 0; i < m.size(1); ++i) out.class_names.push_back("mask_" + std::to_string(i));
    ctx.set_output("logits", out);
  }

 private:
  double background_;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(SamAutoMasks);
OVSEG_REGISTER_PLUGIN(SamMasksToLogits);
