// similarity_smoothing: a weight-free refinement. Each patch token becomes
// the softmax(cos-similarity / temperature)-weighted mean of all tokens, the
// same "attend to patches that look like me" step that SCLIP/NACLIP apply
// to CLIP's last block, here on raw tokens. Turns Tokens into a FeatureMap.
#include <ovseg/sdk.hpp>
#include <ovseg/sdk/stage_capabilities.hpp>

namespace {

using namespace ovseg;

class SimilaritySmoothing : public Stage {
 public:
  static PluginDescriptor describe() {
    PluginDescriptor d = PluginDescriptor("similarity_smoothing", StageKind::Refinement,
                                          "tokens averaged over similar tokens (self-similarity attention)")
                             .input("tokens", PortType::Tokens, "patch tokens (B,N,C) with a grid")
                             .output("features", PortType::FeatureMap, "refined features (B,C,h,w)")
                             .param("temperature", 0.1, "softmax temperature on cosine similarity; smaller = sharper")
                             .range(1e-6, std::nullopt)
                             .param("iterations", 1, "how many times to apply the smoothing (0 = pass tokens through)")
                             .range(0, 100)
                             .param("residual", 0.0, "weight of the original token added back after each step")
                             .range(0.0, std::nullopt);
    // Float32 under --precision bf16: its cosines are divided by the
    // temperature (0.05 in colour_prototypes.toml), which would turn bf16's
    // rounding of a cosine (up to 2^-9) into ~0.04 in the softmax exponent.
    // Weight-free and cheap, it gains nothing from bf16.
    declare_capabilities(d).full_precision();
    return d;
  }

  explicit SimilaritySmoothing(const StageInit& init)
      : temperature_(init.params.get_float("temperature")),
        iterations_(init.params.get_int("iterations")),
        residual_(init.params.get_float("residual")) {}

  void run(StageContext& ctx) override {
    const Tokens& in = ctx.input<Tokens>("tokens");
    const int64_t n_patch = in.grid_h * in.grid_w;
    expect_shape(in.tokens, {-1, n_patch + (in.has_cls ? 1 : 0), -1}, "node '" + ctx.node_id() + "' input 'tokens'");
    at::Tensor x = in.has_cls ? in.tokens.narrow(1, 1, n_patch) : in.tokens;  // drop CLS
    for (int64_t i = 0; i < iterations_; ++i) {
      at::Tensor unit = l2_normalize(x);
      at::Tensor attn = at::softmax(at::bmm(unit, unit.transpose(1, 2)) / temperature_, -1);
      x = at::bmm(attn, x) + residual_ * x;
    }
    at::Tensor features = x.transpose(1, 2).reshape({x.size(0), x.size(2), in.grid_h, in.grid_w}).contiguous();
    ctx.set_output("features", FeatureMap{features});
  }

 private:
  double temperature_;
  int64_t iterations_;
  double residual_;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(SimilaritySmoothing);
