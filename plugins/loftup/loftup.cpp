// loftup: LoftUp, a learned feature upsampler (Huang et al. 2025;
// andrehuang/loftup, MIT), as a stage between any refinement and the logits:
// low-resolution features + the image -> features at the image's resolution
// (or a chosen size). The model is host/models loftup.hpp (the authors'
// modules, parameter for parameter, pinned to their code).
//
// Training (`ovseg train`), stage 1 of the paper: the upsampler regresses a
// pseudo ground truth built from the low-resolution features and
// class-agnostic masks. The paper uses SAM's masks; a pipeline wires any
// Masks here, e.g. the data set's instances (input.instances) or
// sam_auto_masks. The pseudo ground truth (the paper's F_Mask-Bicubic) is the
// channel-normalised low-res features upsampled bicubically, each mask's
// pixels then replaced by the mask's mean feature. Not in any public code
// (the authors have not released their training code; their answer on
// overlapping masks is not public either), so these are parameters with
// documented defaults: a pixel in several masks takes the smallest mask's
// mean (SAM lists a whole before its parts; smallest-wins is what painting
// masks from large to small gives), `mask_blend` = 1 replaces the feature
// (0.5 would average it with the bicubic one), the loss is the mean squared
// error in the normalised space the authors' output lives in.
#include <ovseg/sdk.hpp>
#include <ATen/core/grad_mode.h>  // at::GradMode / NoGradGuard: ATen/ATen.h no longer brings them in LibTorch 2.x

#include <ovseg/models/loftup.hpp>

#include <cmath>
#include <limits>

namespace {

using namespace ovseg;
using models::LoftUp;

// Pseudo ground truth of stage 1 from normalised low-res features `lr_norm`
// (B,C,h,w) and masks (B,N,H',W') (inside where > 0): see the header.
at::Tensor mask_refined_target(const at::Tensor& lr_norm, const Masks& masks, int64_t H, int64_t W,
                               const std::string& interpolation, double blend) {
  at::Tensor up = interpolation == "bicubic" ? at::upsample_bicubic2d(lr_norm, {H, W}, false)
                                             : at::upsample_bilinear2d(lr_norm, {H, W}, false);
  if (!masks.logits.defined() || masks.logits.size(1) == 0) return up;
  at::Tensor m = masks.logits.to(up.device(), at::kFloat);
  if (m.size(2) != H || m.size(3) != W) m = at::upsample_nearest2d(m, {H, W});
  m = (m > 0).to(at::kFloat);
  const int64_t B = up.size(0), C = up.size(1), N = m.size(1);
  const at::Tensor area = m.sum({2, 3});  // (B,N)
  const at::Tensor means = at::bmm(m.flatten(2), up.flatten(2).transpose(1, 2)) /
                           area.clamp_min(1).unsqueeze(-1);  // (B,N,C)
  const at::Tensor cost = at::where(m > 0, area.view({B, N, 1, 1}).expand_as(m),
                                    at::full({}, std::numeric_limits<float>::infinity(), m.options()));
  const at::Tensor owner = cost.argmin(1).flatten(1);       // (B,H*W)
  const at::Tensor covered = (m.amax(1) > 0).unsqueeze(1);  // (B,1,H,W)
  const at::Tensor assigned = at::gather(means.transpose(1, 2), 2, owner.unsqueeze(1).expand({B, C, H * W}))
                                  .view({B, C, H, W});
  return at::where(covered, up * (1 - blend) + assigned * blend, up);
}

class LoftUpStage : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("loftup", StageKind::Refinement,
                            "LoftUp: learned coordinate-based feature upsampler (cross-attention from every pixel)")
        .input("features", PortType::FeatureMap, "low-resolution features (B,C,h,w), e.g. a refinement's")
        .input("image", PortType::Image, "the image the features came from (B,3,H,W)")
        .input("masks", PortType::Masks,
               "class-agnostic masks for stage-1 training (the paper's SAM masks), e.g. input.instances; "
               "read only while training",
               /*optional=*/true)
        .output("features", PortType::FeatureMap, "upsampled features (B,C,H,W) at the image's size or `size`")
        .loss("pseudo_gt",
              "stage 1: mean squared error to the mask-refined bicubic pseudo ground truth "
              "(needs `masks`)")
        .param("model", "",
               "checkpoint in the released layout (hubconf.py's pytorch_model.bin: channelnorm.norm.*, "
               "upsampler.*; or the training layout); empty: a fresh upsampler as PyTorch initialises it")
        .param("dim", int64_t{0}, "feature channels of a fresh upsampler (0: the checkpoint's)")
        .range(0, std::nullopt)
        .param("heads", int64_t{4}, "attention heads (not in a checkpoint's shapes; the released ones use 4)")
        .range(1, std::nullopt)
        .param("layers", int64_t{2}, "cross-attention layers of a fresh upsampler")
        .range(1, 16)
        .param("n_freqs", int64_t{20}, "image Fourier frequencies of a fresh upsampler")
        .range(1, 64)
        .param("seed", int64_t{0}, "initialisation seed of a fresh upsampler")
        .range(0, std::nullopt)
        .param("size", std::vector<int64_t>{},
               "output [height, width]; empty: the image's size (the image is resized bilinearly to a chosen size)")
        .param("max_tile_mb", 64.0,
               "working memory per tile of output rows (cross-attention from every pixel); 0: one tile")
        .range(0.0, std::nullopt)
        .param("output", "features",
               "'features': mapped back to the input features' space (the channel norm undone with the "
               "low-res per-pixel mean and spread, bilinearly upsampled), so cosine logits compare like with "
               "like; 'normalized': the authors' output (their ChannelNorm space)")
        .choices({"features", "normalized"})
        .param("pgt_interpolation", "bicubic", "upsampling of the pseudo ground truth before the masks refine it")
        .choices({"bicubic", "bilinear"})
        .param("mask_blend", 1.0, "weight of a mask's mean feature in the pseudo ground truth (1: replace)")
        .range(0.0, 1.0);
  }

  explicit LoftUpStage(const StageInit& init)
      : device_(init.device),
        size_(init.params.get<std::vector<int64_t>>("size")),
        tile_bytes_(static_cast<int64_t>(init.params.get_float("max_tile_mb") * 1048576.0)),
        normalized_(init.params.get_string("output") == "normalized"),
        interpolation_(init.params.get_string("pgt_interpolation")),
        blend_(init.params.get_float("mask_blend")) {
    if (!size_.empty() && (size_.size() != 2 || size_[0] < 1 || size_[1] < 1))
      throw std::invalid_argument("size must be [] or [height, width] with both >= 1");
    const std::string path = init.params.get_string("model");
    const int64_t heads = init.params.get_int("heads"), dim = init.params.get_int("dim");
    if (path.empty()) {
      if (dim <= 0)
        throw std::invalid_argument("a fresh upsampler (model = \"\") needs dim = the input features' channels");
      models::LoftUpGeometry g;
      g.dim = dim;
      g.heads = heads;
      g.layers = init.params.get_int("layers");
      g.n_freqs = init.params.get_int("n_freqs");
      if (g.width() % heads != 0)
        throw std::invalid_argument("attention width dim + 20 = " + std::to_string(g.width()) +
                                    " is not divisible by heads = " + std::to_string(heads));
      model_ = std::make_shared<LoftUp>(models::make_loftup_state_dict(g, static_cast<uint64_t>(
                                                                              init.params.get_int("seed"))),
                                        "fresh", heads, device_);
    } else {
      model_ = LoftUp::load(init.resolve_path(path), heads, device_);
      if (dim > 0 && dim != model_->geometry().dim)
        throw std::invalid_argument("dim = " + std::to_string(dim) + " but the checkpoint's upsampler has dim " +
                                    std::to_string(model_->geometry().dim));
    }
  }

  void run(StageContext& ctx) override {
    const std::string where = "node '" + ctx.node_id() + "' ";
    const at::Tensor& lr = ctx.input<FeatureMap>("features").features;
    const at::Tensor& img = ctx.input<Image>("image").pixels;
    const int64_t D = model_->geometry().dim;
    expect_shape(lr, {-1, D, -1, -1}, where + "input 'features' (the upsampler's dim is " + std::to_string(D) + ")");
    expect_shape(img, {lr.size(0), 3, -1, -1}, where + "input 'image' (batch of the features)");
    LoftUp::Options o;
    o.training = training_ && ctx.training();
    o.max_tile_bytes = tile_bytes_;
    if (!size_.empty()) o.out_h = size_[0], o.out_w = size_[1];
    at::Tensor y = model_->forward(lr, img, o);  // normalised space
    const int64_t H = y.size(2), W = y.size(3);

    if (ctx.training() && ctx.has_input("masks")) {
      at::Tensor target;
      {
        at::NoGradGuard no_grad;
        target = mask_refined_target(model_->channel_norm(lr.to(y.device(), at::kFloat)), ctx.input<Masks>("masks"), H,
                                     W, interpolation_, blend_);
      }
      ctx.add_loss("pseudo_gt", at::mse_loss(y, target));
    }
    ctx.set_output("features", FeatureMap{normalized_ ? y : to_feature_space(y, lr.to(y.device(), at::kFloat))});
  }

  std::vector<NamedTensor> parameters() override {
    std::vector<NamedTensor> out;
    for (const auto& t : model_->tensors())
      if (!t.buffer) out.push_back({t.name, t.tensor, /*trainable=*/true});
    return out;
  }
  std::vector<NamedTensor> buffers() override {
    std::vector<NamedTensor> out;
    for (const auto& t : model_->tensors())
      if (t.buffer) out.push_back({t.name, t.tensor, false});
    return out;
  }
  void set_training(bool training) override { training_ = training; }

 private:
  // Undoes ChannelNorm: ((y - b) / w) * sigma + mu, with the low-res
  // features' per-pixel mean and spread over channels upsampled bilinearly.
  at::Tensor to_feature_space(const at::Tensor& y, const at::Tensor& lr) const {
    at::Tensor w, b;
    for (const auto& t : model_->tensors()) {
      if (t.name == "channelnorm.norm.weight") w = t.tensor;
      if (t.name == "channelnorm.norm.bias") b = t.tensor;
    }
    const at::Tensor mu = lr.mean(1, true);
    const at::Tensor sigma = at::sqrt(lr.var(1, /*unbiased=*/false, true) + 1e-5);
    const int64_t H = y.size(2), W = y.size(3);
    const at::Tensor stats = at::upsample_bilinear2d(at::cat({mu, sigma}, 1), {H, W}, false);
    const at::Tensor w_safe = at::where(w.abs() < 1e-3, (w >= 0).to(w.scalar_type()) * 2e-3 - 1e-3, w)
                                  .view({1, -1, 1, 1});
    return (y - b.view({1, -1, 1, 1})) / w_safe * stats.narrow(1, 1, 1) + stats.narrow(1, 0, 1);
  }

  at::Device device_;
  std::vector<int64_t> size_;
  int64_t tile_bytes_;
  bool normalized_;
  std::string interpolation_;
  double blend_;
  bool training_ = false;
  std::shared_ptr<LoftUp> model_;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(LoftUpStage);
