// class_weighting: multiplies every class map by that class's image-level
// score, logits[b,k,y,x] * weights[b,k]. CLIPtrase does this on VOC20 (no
// background class): the dense logits, resized to the image, times the CLS
// token's own logits, logit_scale * cos(cls, text_k)
// (clip_self_correlation.py: patch_logits * cls_logits), so classes the
// image as a whole does not support lose weight everywhere. The weights are
// used as they come: CLIPtrase does not clamp or softmax them.
#include <ovseg/sdk.hpp>

namespace {

using namespace ovseg;

class ClassWeighting : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("class_weighting", StageKind::Fusion,
                            "multiply each class map by an image-level class score (CLIPtrase's CLS-logit weighting)")
        .input("logits", PortType::Logits, "dense class scores (B,K,H,W)")
        .input("weights", PortType::Logits,
               "image-level class scores (B,K,1,1), e.g. cosine_logits on a refinement's 'cls' output")
        .output("logits", PortType::Logits, "(B,K,H,W) logits * weights");
  }
  explicit ClassWeighting(const StageInit&) {}

  void run(StageContext& ctx) override {
    const Logits& in = ctx.input<Logits>("logits");
    const Logits& w = ctx.input<Logits>("weights");
    const std::string node = "node '" + ctx.node_id() + "'";
    expect_shape(in.logits, {-1, -1, -1, -1}, node + " input 'logits'");
    expect_shape(w.logits, {in.logits.size(0), in.logits.size(1), 1, 1},
                 node + " input 'weights' (one score per image and class of 'logits' " + shape_string(in.logits) + ")");
    if (!w.class_names.empty() && !in.class_names.empty() && w.class_names != in.class_names)
      throw std::invalid_argument(node + ": 'logits' and 'weights' name different classes");
    ctx.set_output("logits",
                   Logits{in.logits * w.logits.to(in.logits.device(), in.logits.scalar_type()), in.class_names});
  }
};

}  // namespace

OVSEG_REGISTER_PLUGIN(ClassWeighting);
