// pixel_features: a weight-free encoder. Each patch of the image becomes a
// token holding its normalised mean colour and, optionally, a colour
// histogram and its position: the same (B,N,C)+grid / (B,C,h,w) outputs a
// ViT encoder produces, so every later stage runs unchanged on it.
#include <ovseg/sdk.hpp>

namespace {

using namespace ovseg;

class PixelFeatures : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("pixel_features", StageKind::Encoder, "patch tokens from colour statistics (no weights)")
        .input("image", PortType::Image, "image (B,3,H,W) RGB in [0,1]")
        .output("tokens", PortType::Tokens, "patch tokens (B,h*w,C), no class token")
        .output("features", PortType::FeatureMap, "the same tokens as a map (B,C,h,w)")
        .param("patch_size", 8, "side of the square patch one token summarises, in pixels")
        .range(1, 512)
        .param("mean", std::vector<double>{0.5, 0.5, 0.5}, "per-channel mean subtracted (RGB)")
        .param("std", std::vector<double>{0.25, 0.25, 0.25}, "per-channel divisor (RGB)")
        .param("histogram_bins", 0, "bins per channel of a patch colour histogram appended (0 = off)")
        .range(0, 64)
        .param("position_weight", 0.0, "weight of the (y,x) patch position in [-1,1] appended (0 = off)")
        .range(0.0, std::nullopt);
  }

  explicit PixelFeatures(const StageInit& init)
      : patch_(init.params.get_int("patch_size")),
        bins_(init.params.get_int("histogram_bins")),
        position_weight_(init.params.get_float("position_weight")) {
    mean_ = init.params.get<std::vector<double>>("mean");
    std_ = init.params.get<std::vector<double>>("std");
    if (mean_.size() != 3 || std_.size() != 3) throw std::invalid_argument("mean and std need 3 values (R, G, B)");
    for (double s : std_)
      if (s <= 0) throw std::invalid_argument("std values must be positive");
  }

  void run(StageContext& ctx) override {
    const at::Tensor& img = ctx.input<Image>("image").pixels;
    expect_shape(img, {-1, 3, -1, -1}, "node '" + ctx.node_id() + "' input 'image'");
    const auto opts = img.options();
    // Pad (replicate) to whole patches so the border keeps its own tokens.
    const int64_t H = img.size(2), W = img.size(3);
    const int64_t gh = (H + patch_ - 1) / patch_, gw = (W + patch_ - 1) / patch_;
    at::Tensor x = at::replication_pad2d(img, {0, gw * patch_ - W, 0, gh * patch_ - H});

    at::Tensor mean = at::tensor(mean_, opts).view({1, 3, 1, 1});
    at::Tensor std = at::tensor(std_, opts).view({1, 3, 1, 1});
    std::vector<at::Tensor> parts = {at::avg_pool2d((x - mean) / std, patch_, patch_)};
    if (bins_ > 0) {
      // One-hot bin per pixel and channel, averaged per patch = histogram.
      at::Tensor idx = (x * bins_).floor().clamp(0, bins_ - 1).to(at::kLong);  // (B,3,H,W)
      at::Tensor onehot = at::one_hot(idx, bins_).to(opts.dtype());            // (B,3,H,W,bins)
      onehot = onehot.permute({0, 1, 4, 2, 3}).reshape({x.size(0), 3 * bins_, x.size(2), x.size(3)});
      parts.push_back(at::avg_pool2d(onehot, patch_, patch_));
    }
    if (position_weight_ > 0) {
      at::Tensor ys = at::linspace(-1, 1, gh, opts).view({1, 1, gh, 1}).expand({x.size(0), 1, gh, gw});
      at::Tensor xs = at::linspace(-1, 1, gw, opts).view({1, 1, 1, gw}).expand({x.size(0), 1, gh, gw});
      parts.push_back(at::cat({ys, xs}, 1) * position_weight_);
    }
    at::Tensor features = at::cat(parts, 1).contiguous();  // (B,C,gh,gw)
    at::Tensor tokens = features.flatten(2).transpose(1, 2).contiguous();
    ctx.set_output("tokens", Tokens{tokens, gh, gw, false});
    ctx.set_output("features", FeatureMap{features});
  }

 private:
  int64_t patch_, bins_;
  double position_weight_;
  std::vector<double> mean_, std_;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(PixelFeatures);
