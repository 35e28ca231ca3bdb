// What a stage lets the harness do with it beyond its ports and parameters,
// declared by the plugin in describe() and read by the host through the
// plugin's name (which the catalog keeps unique). Kept beside
// PluginDescriptor rather than in it so that declaring one changes no
// descriptor layout every built plugin shares.
//
//   static PluginDescriptor describe() {
//     PluginDescriptor d("argmax", StageKind::Postprocess, "...");
//     ...
//     declare_capabilities(d).labels_by_protocol("logits")
//         .alias_of_protocol_knob("probability_threshold", "prob_thd");
//     return d;
//   }
#pragma once

#include <map>
#include <string>

namespace ovseg {

struct PluginDescriptor;

// Whether a stage runs under the host's reduced precision (`--precision
// bf16|fp16`, ovseg/host/precision.hpp): by its kind (encoders and
// refinements do: CLIP's towers, the last-block read-outs, SAM's image
// encoder), or as declared.
enum class PrecisionPolicy { ByKind, Full, Reduced };

struct StageCapabilities {
  // The stage's LabelMap is the harness's final labelling of this Logits
  // input (argmax; background by the protocol's prob_thd / area_thd, the one
  // place thresholds live): the harness labels those logits itself, at the
  // label size, and skips the stage. Empty: not declared.
  std::string labelled_by_protocol;
  // The stage is class-wise in this Logits input: output class channel k is
  // computed from input channel k alone (and the other inputs), as a resize
  // is, so the harness may run it on tiles of classes. Empty: not declared.
  std::string classwise_input;
  // The stage's output for one batch element depends on the others (e.g.
  // padded to the batch's largest proposal count): the harness then never
  // puts windows of several images in one batch (window_batcher.hpp).
  // Undeclared: each element's output depends on that element alone.
  bool batch_coupled = false;
  // Deprecated parameters that spell a protocol knob (parameter -> knob):
  // build_graph moves a value the pipeline sets onto the knob, with a warning.
  std::map<std::string, std::string> protocol_knob_aliases;
  // Reduced precision: ByKind (encoders and refinements run under autocast,
  // fusion and postprocess stages in float32), or always Full / Reduced.
  PrecisionPolicy precision = PrecisionPolicy::ByKind;

  StageCapabilities& labels_by_protocol(std::string logits_input);
  StageCapabilities& classwise(std::string logits_input);
  StageCapabilities& couples_batch();
  StageCapabilities& alias_of_protocol_knob(std::string param, std::string knob);
  // Always float32, whatever its kind and the run's --precision (a stage
  // whose numbers bf16's 8-bit mantissa would change beyond use).
  StageCapabilities& full_precision();
  // Under autocast at --precision bf16/fp16 although its kind is fusion or
  // postprocess (a fusion stage that is mostly an encoder).
  StageCapabilities& reduced_precision();
};

// The capabilities of the plugin `d` names, to fill in (process-wide, in
// libovseg_sdk, so the host sees what a plugin library declared).
StageCapabilities& declare_capabilities(const PluginDescriptor& d);

// What the plugin named `plugin` declared (nothing declared: all empty).
StageCapabilities capabilities_of(const std::string& plugin);

}  // namespace ovseg
