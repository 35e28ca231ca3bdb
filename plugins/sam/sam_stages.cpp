// The interactive SAM stages: sam_image_encoder (image -> embeddings, encoder
// taps, the model), sam_prompts (points and boxes from parameters) and
// sam_mask_decoder (embeddings + prompts -> masks). Together they are
// segment_anything's SamPredictor (set_image, then predict_torch per prompt
// batch), and parity-tested as such.
#include <ovseg/sdk.hpp>

#include "sam_shared.hpp"

namespace {

using namespace ovseg;

constexpr int kMaxTaps = 4;

std::string tap_port(int i) { return "tap_" + std::to_string(i); }

class SamImageEncoder : public Stage {
 public:
  static PluginDescriptor describe() {
    PluginDescriptor d("sam_image_encoder", StageKind::Encoder,
                       "SAM / MobileSAM image encoder: image embeddings, encoder taps, the model");
    d.input("image", PortType::Image,
            "images (B,3,H,W) RGB in [0,1]; resized to the model's input as SAM's predictor does")
        .output("embeddings", PortType::FeatureMap, "image embeddings (B,256,64,64) for 1024-px SAM")
        .output("model", PortType::Model, "the loaded SAM model, for sam_mask_decoder and sam_auto_masks");
    for (int i = 0; i < kMaxTaps; ++i)
      d.output(tap_port(i), PortType::FeatureMap,
               "output (B,C,h,w) of the encoder block listed " +
                   std::string(i == 0   ? "first"
                               : i == 1 ? "second"
                               : i == 2 ? "third"
                                        : "fourth") +
                   " in `taps`");
    d.param("model", "sam:vit_b",
            "checkpoint: a zoo name (sam:vit_b, sam:vit_l, sam:vit_h, mobilesam:vit_t, ovseg:world-sam) or a file")
        .param("taps", std::vector<int64_t>{},
               "encoder blocks whose outputs feed tap_0.. (ViT: block index; TinyViT: MBConv and attention "
               "blocks counted across stages); up to 4")
        .range(0, std::nullopt);
    return d;
  }

  explicit SamImageEncoder(const StageInit& init)
      : model_(sam_plugins::shared_sam_model(init, init.params.get_string("model"))),
        taps_(init.params.get<std::vector<int64_t>>("taps")) {
    if (taps_.size() > kMaxTaps)
      throw std::invalid_argument("parameter 'taps' lists " + std::to_string(taps_.size()) + " blocks; at most " +
                                  std::to_string(kMaxTaps) + " (tap_0 .. tap_3)");
    const int64_t blocks = model_->geometry().encoder_blocks();
    for (int64_t t : taps_)
      if (t >= blocks)
        throw std::invalid_argument("parameter 'taps' lists block " + std::to_string(t) + ", but " +
                                    model_->source_name() + " has blocks 0.." + std::to_string(blocks - 1));
  }

  void run(StageContext& ctx) override {
    const at::Tensor& img = ctx.input<Image>("image").pixels;
    expect_shape(img, {-1, 3, -1, -1}, "node '" + ctx.node_id() + "' input 'image'");
    for (int i = 0; i < kMaxTaps; ++i)
      if (ctx.wants_output(tap_port(i)) && i >= static_cast<int>(taps_.size()))
        throw std::invalid_argument("output '" + tap_port(i) + "' is wired but parameter 'taps' lists " +
                                    std::to_string(taps_.size()) + " block(s) -- fix: list the encoder blocks to tap");
    models::SamFrame frame;
    const at::Tensor pixels = sam_plugins::sam_encoder_input(img, model_->geometry().image_size, &frame);
    std::vector<at::Tensor> tapped;
    const at::Tensor emb = model_->encode_image(pixels.to(ctx.device()), taps_, &tapped);
    ctx.set_output("embeddings", FeatureMap{emb});
    ctx.set_output("model", ModelHandle::of(model_));
    for (size_t i = 0; i < tapped.size(); ++i) ctx.set_output(tap_port(static_cast<int>(i)), FeatureMap{tapped[i]});
  }

 private:
  std::shared_ptr<models::SamModel> model_;
  std::vector<int64_t> taps_;
};

class SamPrompts : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("sam_prompts", StageKind::Encoder, "SAM point / box prompts from parameters")
        .input("image", PortType::Image, "the images the prompts refer to (their batch size)")
        .output("prompts", PortType::Prompts, "the same prompts for every image of the batch")
        .param("points", std::vector<double>{}, "click coordinates x0, y0, x1, y1, ... in image pixels")
        .param("labels", std::vector<int64_t>{}, "one per point: 1 foreground, 0 background (default: all 1)")
        .param("boxes", std::vector<double>{}, "boxes x0, y0, x1, y1, ... in image pixels")
        .param("mode", "each",
               "'each': every point (or point i with box i) is its own prompt; 'together': all points and at most "
               "one box form a single prompt")
        .choices({"each", "together"});
  }

  explicit SamPrompts(const StageInit& init) {
    const auto& pts = init.params.get<std::vector<double>>("points");
    const auto& boxes = init.params.get<std::vector<double>>("boxes");
    std::vector<int64_t> labels = init.params.get<std::vector<int64_t>>("labels");
    if (pts.size() % 2)
      throw std::invalid_argument("parameter 'points' needs x, y pairs; it has " + std::to_string(pts.size()) +
                                  " numbers");
    if (boxes.size() % 4)
      throw std::invalid_argument("parameter 'boxes' needs x0, y0, x1, y1 quadruples; it has " +
                                  std::to_string(boxes.size()) + " numbers");
    const int64_t n = static_cast<int64_t>(pts.size() / 2), nb = static_cast<int64_t>(boxes.size() / 4);
    if (labels.empty()) labels.assign(static_cast<size_t>(n), 1);
    if (static_cast<int64_t>(labels.size()) != n)
      throw std::invalid_argument("parameter 'labels' has " + std::to_string(labels.size()) + " values for " +
                                  std::to_string(n) + " points");
    for (int64_t l : labels)
      if (l != 0 && l != 1)
        throw std::invalid_argument("parameter 'labels' holds " + std::to_string(l) +
                                    "; use 1 (foreground) or 0 (background)");
    if (n == 0 && nb == 0) throw std::invalid_argument("no prompt: set 'points' and/or 'boxes'");
    const bool together = init.params.get_string("mode") == "together";
    if (together && nb > 1)
      throw std::invalid_argument("mode 'together' takes at most one box, got " + std::to_string(nb));
    if (!together && n > 0 && nb > 0 && n != nb)
      throw std::invalid_argument("mode 'each' pairs point i with box i, but there are " + std::to_string(n) +
                                  " points and " + std::to_string(nb) + " boxes");
    const at::Tensor p = at::tensor(pts, at::kFloat).view({n, 2}), l = at::tensor(labels, at::kLong);
    // Prompts are (P, N, ...) here; the batch axis is added per run.
    if (n > 0) {
      points_ = together ? p.view({1, n, 2}) : p.view({n, 1, 2});
      labels_ = together ? l.view({1, n}) : l.view({n, 1});
    }
    if (nb > 0) boxes_ = at::tensor(boxes, at::kFloat).view({together ? 1 : nb, 4});
  }

  void run(StageContext& ctx) override {
    const at::Tensor& img = ctx.input<Image>("image").pixels;
    expect_shape(img, {-1, 3, -1, -1}, "node '" + ctx.node_id() + "' input 'image'");
    const int64_t B = img.size(0);
    Prompts out;
    out.points = points_.defined() ? points_.unsqueeze(0).expand({B, -1, -1, -1}).contiguous() : at::Tensor();
    out.point_labels = labels_.defined() ? labels_.unsqueeze(0).expand({B, -1, -1}).contiguous() : at::Tensor();
    out.boxes = boxes_.defined() ? boxes_.unsqueeze(0).expand({B, -1, -1}).contiguous() : at::Tensor();
    ctx.set_output("prompts", out);
  }

 private:
  at::Tensor points_, labels_, boxes_;
};

class SamMaskDecoder : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("sam_mask_decoder", StageKind::Fusion,
                            "SAM prompt encoder + mask decoder: embeddings and prompts -> masks at the image size")
        .input("embeddings", PortType::FeatureMap, "image embeddings (B,C,g,g) from sam_image_encoder")
        .input("prompts", PortType::Prompts, "points/labels, boxes, mask inputs in image pixels (B images, P prompts)")
        .input("model", PortType::Model, "the SAM model (sam_image_encoder's 'model')")
        .input("image", PortType::Image, "the images (their size: masks come back at it)")
        .output("masks", PortType::Masks,
                "(B, P*M, H, W) mask logits (> 0 inside, SAM's mask_threshold 0), predicted IoU as scores, 256x256 "
                "low-res logits; M = 3 with multimask_output, else 1")
        .param("multimask_output", true, "three masks per prompt (ambiguous clicks) instead of one");
  }

  explicit SamMaskDecoder(const StageInit& init) : multimask_(init.params.get_bool("multimask_output")) {}

  void run(StageContext& ctx) override {
    const std::string node = ctx.node_id();
    const auto model = sam_plugins::sam_model_input(ctx, "model");
    const auto& g = model->geometry();
    const at::Tensor& img = ctx.input<Image>("image").pixels;
    expect_shape(img, {-1, 3, -1, -1}, "node '" + node + "' input 'image'");
    const int64_t B = img.size(0), H = img.size(2), W = img.size(3);
    const at::Tensor& emb = ctx.input<FeatureMap>("embeddings").features;
    expect_shape(emb, {B, g.embed_dim, g.embedding_grid, g.embedding_grid},
                 "node '" + node + "' input 'embeddings' (for " + std::to_string(B) + " images and " +
                     model->source_name() + ")");
    const Prompts& prompts = ctx.input<Prompts>("prompts");
    const int64_t P = sam_plugins::check_prompts(prompts, B, g.low_res_size(), node, "prompts");
    const models::SamFrame frame = models::sam_frame(H, W, g.image_size);
    std::vector<at::Tensor> logits, scores, low_res;
    int64_t per_prompt = multimask_ ? g.num_mask_tokens - 1 : 1;
    for (int64_t b = 0; b < B; ++b) {
      if (P == 0) break;
      models::SamPredictor predictor(model);
      predictor.set_embeddings(emb.narrow(0, b, 1), frame);
      // Image pixels -> the encoder's frame, as SamPredictor.predict does.
      const at::Tensor pts = prompts.points.defined() ? models::sam_apply_coords(prompts.points[b], frame)
                                                      : at::Tensor();
      const at::Tensor lab = prompts.point_labels.defined() ? prompts.point_labels[b].to(at::kInt) : at::Tensor();
      const at::Tensor box = prompts.boxes.defined() ? models::sam_apply_boxes(prompts.boxes[b], frame) : at::Tensor();
      const at::Tensor mask = prompts.mask_inputs.defined() ? prompts.mask_inputs[b].to(at::kFloat) : at::Tensor();
      const auto r = predictor.predict_torch(pts, lab, box, mask, multimask_);
      per_prompt = r.masks.size(1);
      logits.push_back(r.masks.flatten(0, 1));
      scores.push_back(r.iou_predictions.flatten(0, 1));
      low_res.push_back(r.low_res_logits.flatten(0, 1));
    }
    Masks out;
    out.masks_per_prompt = per_prompt;
    if (P == 0) {
      const auto opts = emb.options();
      out.logits = at::empty({B, 0, H, W}, opts);
      out.scores = at::empty({B, 0}, opts);
      out.low_res = at::empty({B, 0, g.low_res_size(), g.low_res_size()}, opts);
    } else {
      out.logits = at::stack(logits);
      out.scores = at::stack(scores);
      out.low_res = at::stack(low_res);
    }
    ctx.set_output("masks", out);
  }

 private:
  bool multimask_;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(SamImageEncoder);
OVSEG_REGISTER_PLUGIN(SamPrompts);
OVSEG_REGISTER_PLUGIN(SamMaskDecoder);
