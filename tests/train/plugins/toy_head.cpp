// A tiny learnable stage for the training tests, built with the real plugin
// mechanism into build/test_train_plugins/ (apart from the real plugins):
// toy_head: logits = W x + b per pixel, one channel per class of the host's
// vocabulary; parameters proj.weight (K,3), proj.bias (K); a buffer `calls`
// counting training forwards (state that must survive a resume); an
// auxiliary loss "l2" = mean(W^2) while training.
#include <ovseg/sdk.hpp>
#include <ATen/core/grad_mode.h>  // at::GradMode / NoGradGuard: ATen/ATen.h no longer brings them in LibTorch 2.x

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

// Oracles over the ground-truth inputs (ground_truth.hpp): logits that are
// the truth itself, so evaluating them gives 100% where the truth is known.
std::vector<std::string> vocabulary_names(const StageInit& init) {
  std::vector<std::string> names;
  for (const auto& syns : init.vocabulary) names.push_back(syns.front());
  return names;
}

class LabelOracle : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("label_oracle", StageKind::Fusion, "logits = one-hot of input.labels (tests)")
        .input("labels", PortType::LabelMap, "input.labels")
        .output("logits", PortType::Logits, "(B,K,H,W)");
  }
  explicit LabelOracle(const StageInit& init) : names_(vocabulary_names(init)) {}
  void run(StageContext& ctx) override {
    const at::Tensor& l = ctx.input<LabelMap>("labels").labels;
    const int64_t k = static_cast<int64_t>(names_.size());
    at::Tensor valid = l.lt(k);
    at::Tensor oh = at::one_hot(l.masked_fill(~valid, 0), k).permute({0, 3, 1, 2}).to(at::kFloat);
    ctx.set_output("logits", Logits{oh * valid.unsqueeze(1) * 10.0, names_});
  }

 private:
  std::vector<std::string> names_;
};

class InstanceOracle : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("instance_oracle", StageKind::Fusion, "logits painted from input.instances (tests)")
        .input("instances", PortType::Masks, "input.instances")
        .output("logits", PortType::Logits, "(B,K,H,W)")
        .loss("masks", "number of instance masks with a known class (a counter, for tests)");
  }
  explicit InstanceOracle(const StageInit& init) : names_(vocabulary_names(init)) {}
  void run(StageContext& ctx) override {
    const Masks& m = ctx.input<Masks>("instances");
    const int64_t B = m.logits.size(0), N = m.logits.size(1), k = static_cast<int64_t>(names_.size());
    at::Tensor logits = at::zeros({B, k, m.logits.size(2), m.logits.size(3)});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t n = 0; n < N; ++n) {
        const int64_t c = m.classes[b][n].item<int64_t>();
        if (c >= 0 && c < k) logits[b][c] += m.logits[b][n] * 10.0;
      }
    ctx.add_loss("masks", (m.classes >= 0).sum().to(at::kFloat) + bias_ * 0.0);
    ctx.set_output("logits", Logits{logits + bias_.view({1, 1, 1, 1}), names_});
  }
  std::vector<NamedTensor> parameters() override { return {{"bias", bias_}}; }

 private:
  std::vector<std::string> names_;
  at::Tensor bias_ = at::zeros({1});
};

}  // namespace

OVSEG_REGISTER_PLUGIN(ToyHead);
OVSEG_REGISTER_PLUGIN(LabelOracle);
OVSEG_REGISTER_PLUGIN(InstanceOracle);
