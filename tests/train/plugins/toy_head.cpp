// A tiny learnable stage for the training tests, built with the real plugin
// mechanism into build/test_train_plugins/ (apart from the real plugins):
// toy_head: logits = W x + b per pixel, one channel per class of the host's
// vocabulary; parameters proj.weight (K,3), proj.bias (K); a buffer `calls`
// counting training forwards (state that must survive a resume); an
// auxiliary loss "l2" = mean(W^2) while training.
#include <ovseg/sdk.hpp>

namespace {

using namespace ovseg;

class ToyHead : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("toy_head", StageKind::Fusion, "per-pixel linear classifier on RGB (tests)")
        .input("image", PortType::Image, "image (B,3,H,W)")
        .output("logits", PortType::Logits, "(B,K,H,W), K = the vocabulary's classes")
        .loss("l2", "mean squared weight (a stand-in for a distillation loss)");
  }

  explicit ToyHead(const StageInit& init) {
    for (const auto& syns : init.vocabulary) names_.push_back(syns.front());
    if (names_.empty()) names_ = {"a", "b"};
    const int64_t k = static_cast<int64_t>(names_.size());
    weight_ = (at::arange(k * 3, at::kFloat).reshape({k, 3}) * 0.37).sin() * 0.1;
    bias_ = at::zeros({k});
    calls_ = at::zeros({1});
  }

  void run(StageContext& ctx) override {
    const at::Tensor& x = ctx.input<Image>("image").pixels;
    at::Tensor logits = at::einsum("kc,bchw->bkhw", {weight_, x}) + bias_.view({1, -1, 1, 1});
    if (ctx.training()) {
      at::NoGradGuard no_grad;
      calls_.add_(1);
    }
    ctx.add_loss("l2", weight_.pow(2).mean());
    ctx.set_output("logits", Logits{logits * 10.0, names_});
  }

  std::vector<NamedTensor> parameters() override { return {{"proj.weight", weight_}, {"proj.bias", bias_}}; }
  std::vector<NamedTensor> buffers() override { return {{"calls", calls_}}; }

 private:
  std::vector<std::string> names_;
  at::Tensor weight_, bias_, calls_;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(ToyHead);
