// seen_calibration: the seen-class score calibration of ZegCLIP / CLIP-RC at
// inference (CLIP-RC decode_seg.py semantic_inference(pred, seen_idx, 0.1)):
// per-class sigmoid probabilities, with `weight` subtracted from every class
// seen in training, so that unseen classes (whose scores a model trained on
// the seen ones under-rates) win more pixels. Seen = every class of the
// logits not in the host's zero-shot split (StageInit::unseen_classes), or
// the classes `seen_classes` names. While training it passes the logits
// through unchanged: the losses are on the raw mask logits, as the authors'
// training forward returns them.
#include <ovseg/sdk.hpp>

#include <algorithm>
#include <set>

namespace {

using namespace ovseg;

class SeenCalibration : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("seen_calibration", StageKind::Postprocess,
                            "sigmoid scores with a constant subtracted from the seen classes (ZegCLIP / CLIP-RC)")
        .input("logits", PortType::Logits, "per-class sigmoid mask logits (B,K,H,W)")
        .output("logits", PortType::Logits,
                "sigmoid(logits), minus `weight` on seen classes (B,K,H,W); the logits unchanged while training")
        .param("weight", 0.1, "subtracted from the seen classes' probabilities (CLIP-RC: 0.1; 0 = no calibration)")
        .range(0.0, 1.0)
        .param("seen_classes", std::vector<std::string>{},
               "the seen classes by name; empty = every class not in the evaluation's zero-shot split "
               "(the data set's declared one, --unseen, or [train] unseen_classes)")
        .reads_zero_shot_split();
  }

  explicit SeenCalibration(const StageInit& init)
      : weight_(init.params.get_float("weight")),
        seen_(init.params.get<std::vector<std::string>>("seen_classes")),
        unseen_(init.unseen_classes.begin(), init.unseen_classes.end()) {}

  void run(StageContext& ctx) override {
    const Logits& in = ctx.input<Logits>("logits");
    if (ctx.training()) {
      ctx.set_output("logits", in);
      return;
    }
    expect_shape(in.logits, {-1, static_cast<int64_t>(in.class_names.size()), -1, -1},
                 "node '" + ctx.node_id() + "' input 'logits'");
    for (const auto& name : seen_)
      if (std::find(in.class_names.begin(), in.class_names.end(), name) == in.class_names.end())
        throw std::invalid_argument("node '" + ctx.node_id() + "': seen_classes names '" + name +
                                    "', which is not a class of the logits" + did_you_mean(name, in.class_names));
    std::vector<float> shift(in.class_names.size(), 0.f);
    for (size_t c = 0; c < shift.size(); ++c) {
      const std::string& name = in.class_names[c];
      const bool seen = seen_.empty() ? !unseen_.count(name)
                                      : std::find(seen_.begin(), seen_.end(), name) != seen_.end();
      if (seen) shift[c] = static_cast<float>(weight_);
    }
    at::Tensor s = at::sigmoid(in.logits);
    if (weight_ > 0) {
      const at::Tensor w = at::tensor(shift).to(s.device()).view({1, -1, 1, 1});
      s = s - w;
    }
    ctx.set_output("logits", Logits{s, in.class_names});
  }

 private:
  double weight_;
  std::vector<std::string> seen_;
  std::set<std::string> unseen_;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(SeenCalibration);
