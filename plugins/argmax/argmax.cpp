// argmax: logits -> label map, the per-pixel best class. Logits whose class
// names repeat hold synonym queries (clip_text synonyms = "separate"): a
// class scores the max over its queries, as in SCLIP's postprocess_result;
// the labels index the distinct classes.
//
// Background by confidence (SCLIP's prob_thd) is not this stage's: it is the
// protocol's knob (`[protocol] prob_thd`), applied in one place, the
// harness's final labelling. The stage declares that its labels are that
// labelling of its input (labels_by_protocol), so under `ovseg eval` / `run`
// the harness labels those logits itself, at the label size and tile by tile,
// with the protocol's thresholds. `probability_threshold` is the deprecated
// spelling of protocol.prob_thd: build_graph moves it there with a warning.
#include <ovseg/sdk.hpp>
#include <ovseg/sdk/stage_capabilities.hpp>

namespace {

using namespace ovseg;

class Argmax : public Stage {
 public:
  static PluginDescriptor describe() {
    PluginDescriptor d("argmax", StageKind::Postprocess, "per-pixel best class (synonym queries merged by max)");
    d.input("logits", PortType::Logits, "(B,K,H,W) logits (already scaled)")
        .output("labels", PortType::LabelMap, "(B,H,W) class indices")
        .param("probability_threshold", 0.0,
               "DEPRECATED: sets [protocol] prob_thd (softmax probability below which a pixel becomes class 0)")
        .range(0.0, 1.0);
    declare_capabilities(d).labels_by_protocol("logits").alias_of_protocol_knob("probability_threshold", "prob_thd");
    return d;
  }

  explicit Argmax(const StageInit&) {}

  void run(StageContext& ctx) override {
    const Logits& in = ctx.input<Logits>("logits");
    expect_shape(in.logits, {-1, -1, -1, -1}, "node '" + ctx.node_id() + "' input 'logits'");
    ctx.set_output("labels", argmax_labels(in.logits, in.class_names));
  }
};

}  // namespace

OVSEG_REGISTER_PLUGIN(Argmax);
