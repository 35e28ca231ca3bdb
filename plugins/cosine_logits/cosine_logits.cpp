// cosine_logits: the fusion every CLIP-based training-free method ends with:
// logits[b,k,y,x] = scale * <f[b,:,y,x]/|f|, t[k]/|t|>.
#include <ovseg/sdk.hpp>

namespace {

using namespace ovseg;

class CosineLogits : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("cosine_logits", StageKind::Fusion,
                            "scaled cosine similarity of dense features and class embeddings")
        .input("features", PortType::FeatureMap, "dense features (B,C,h,w)")
        .input("text", PortType::TextEmbeddings, "class embeddings (K,C)")
        .output("logits", PortType::Logits, "(B,K,h,w) scaled cosine similarities")
        .param("logit_scale", 40.0, "multiplier on cosine similarity (CLIP's exp(logit_scale) is 100)")
        .range(0.0, std::nullopt);
  }

  explicit CosineLogits(const StageInit& init) : scale_(init.params.get_float("logit_scale")) {}

  void run(StageContext& ctx) override {
    const at::Tensor& f = ctx.input<FeatureMap>("features").features;
    const TextEmbeddings& text = ctx.input<TextEmbeddings>("text");
    expect_shape(f, {-1, -1, -1, -1}, "node '" + ctx.node_id() + "' input 'features'");
    expect_shape(text.embeddings, {-1, f.size(1)},
                 "node '" + ctx.node_id() + "' input 'text' (channels must match features " + shape_string(f) + ")");
    at::Tensor fn = l2_normalize(f, 1);
    at::Tensor tn = l2_normalize(text.embeddings.to(f.device(), f.scalar_type()), 1);
    // (K,C) x (B,C,h*w) -> (B,K,h*w): one batched matmul, no per-pixel loop.
    at::Tensor logits = at::matmul(tn, fn.flatten(2)).view({f.size(0), tn.size(0), f.size(2), f.size(3)});
    ctx.set_output("logits", Logits{logits * scale_, text.class_names});
  }

 private:
  double scale_;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(CosineLogits);
