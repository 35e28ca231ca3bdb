// argmax: logits -> label map, with SCLIP-style background handling: pixels
// whose best class probability (softmax over classes) is below
// probability_threshold are given the background class.
#include <ovseg/sdk.hpp>

namespace {

using namespace ovseg;

class Argmax : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("argmax", StageKind::Postprocess,
                            "per-pixel best class, optional low-confidence -> background")
        .input("logits", PortType::Logits, "(B,K,H,W) logits (already scaled)")
        .output("labels", PortType::LabelMap, "(B,H,W) class indices")
        .param("probability_threshold", 0.0,
               "softmax probability below which a pixel becomes background (0 = off)")
        .range(0.0, 1.0)
        .param("background_index", 0, "class index used for low-confidence pixels")
        .range(0, std::nullopt);
  }

  explicit Argmax(const StageInit& init)
      : threshold_(init.params.get_float("probability_threshold")),
        background_(init.params.get_int("background_index")) {}

  void run(StageContext& ctx) override {
    const Logits& in = ctx.input<Logits>("logits");
    expect_shape(in.logits, {-1, -1, -1, -1}, "node '" + ctx.node_id() + "' input 'logits'");
    if (background_ >= in.logits.size(1))
      throw std::invalid_argument("background_index " + std::to_string(background_) + " >= " +
                                  std::to_string(in.logits.size(1)) + " classes");
    at::Tensor labels;
    if (threshold_ > 0) {
      auto [best_prob, best] = at::softmax(in.logits, 1).max(1);
      labels = at::where(best_prob < threshold_, at::full_like(best, background_), best);
    } else {
      labels = in.logits.argmax(1);
    }
    ctx.set_output("labels", LabelMap{labels, in.class_names});
  }

 private:
  double threshold_;
  int64_t background_;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(Argmax);
