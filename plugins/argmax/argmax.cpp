// argmax: logits -> label map, with SCLIP-style background handling: pixels
// whose best class probability (softmax over classes) is below
// probability_threshold are given the background class. Logits whose class
// names repeat hold synonym queries (clip_text synonyms = "separate"): the
// softmax runs over all queries and a class scores the max over its queries,
// as in SCLIP's postprocess_result; the labels index the distinct classes.
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
    const SynonymGroups groups = synonym_groups(in.class_names);
    const bool merge = groups.merges(in.logits.size(1));
    const int64_t classes = merge ? static_cast<int64_t>(groups.classes.size()) : in.logits.size(1);
    if (background_ >= classes)
      throw std::invalid_argument("background_index " + std::to_string(background_) + " >= " +
                                  std::to_string(classes) + " classes");
    if (threshold_ <= 0) {
      ctx.set_output("labels", argmax_labels(in.logits, in.class_names));
      return;
    }
    at::Tensor probs = at::softmax(in.logits, 1);
    if (merge) probs = max_over_synonyms(probs, groups, 1);
    auto [best_prob, best] = probs.max(1);
    at::Tensor labels = at::where(best_prob < threshold_, at::full_like(best, background_), best);
    ctx.set_output("labels", LabelMap{labels, merge ? groups.classes : in.class_names});
  }

 private:
  double threshold_;
  int64_t background_;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(Argmax);
