// resize_logits: brings patch-level logits to pixel resolution (the image's
// size when an image is wired in, else a scale factor).
#include <ovseg/sdk.hpp>
#include <ovseg/sdk/bilinear.hpp>
#include <ovseg/sdk/stage_capabilities.hpp>

namespace {

using namespace ovseg;

class ResizeLogits : public Stage {
 public:
  static PluginDescriptor describe() {
    PluginDescriptor d("resize_logits", StageKind::Postprocess, "resize logits to the image size (or by a factor)");
    // Each class map is resized alone: the harness may run class tiles.
    declare_capabilities(d).classwise("logits");
    return d.input("logits", PortType::Logits, "(B,K,h,w) logits")
        .input("image", PortType::Image, "reference for the target size", /*optional=*/true)
        .output("logits", PortType::Logits, "(B,K,H,W) resized logits")
        .param("mode", "bilinear", "interpolation")
        .choices({"bilinear", "bicubic", "nearest"})
        .param("align_corners", false, "align_corners of bilinear/bicubic interpolation")
        .param("scale_factor", 0.0, "used when no image is wired: output = input size * factor")
        .range(0.0, std::nullopt);
  }

  explicit ResizeLogits(const StageInit& init)
      : mode_(init.params.get_string("mode")),
        align_corners_(init.params.get_bool("align_corners")),
        scale_(init.params.get_float("scale_factor")) {}

  void run(StageContext& ctx) override {
    const Logits& in = ctx.input<Logits>("logits");
    expect_shape(in.logits, {-1, -1, -1, -1}, "node '" + ctx.node_id() + "' input 'logits'");
    int64_t h, w;
    if (ctx.has_input("image")) {
      const at::Tensor& img = ctx.input<Image>("image").pixels;
      h = img.size(2);
      w = img.size(3);
    } else if (scale_ > 0) {
      h = static_cast<int64_t>(std::floor(in.logits.size(2) * scale_));
      w = static_cast<int64_t>(std::floor(in.logits.size(3) * scale_));
    } else {
      throw std::invalid_argument("wire an 'image' input or set scale_factor > 0");
    }
    at::Tensor out;
    if (mode_ == "bilinear" && !align_corners_)  // ATen's result, bit for bit, faster (ovseg/sdk/bilinear.hpp)
      out = resize_bilinear(in.logits, h, w);
    else if (mode_ == "bilinear")
      out = at::upsample_bilinear2d(in.logits, {h, w}, align_corners_);
    else if (mode_ == "bicubic")
      out = at::upsample_bicubic2d(in.logits, {h, w}, align_corners_);
    else
      out = at::upsample_nearest2d(in.logits, {h, w});
    ctx.set_output("logits", Logits{out, in.class_names});
  }

 private:
  std::string mode_;
  bool align_corners_;
  double scale_;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(ResizeLogits);
