// The Stage every last-block refinement plugin is: inputs `tokens` (entering
// the last block: clip_image's `tokens`) and `model` (clip_image's `model`),
// outputs `features` (B, embed, h, w) and `cls` (B, embed, 1, 1). The
// training-free plugins differ only in their name, summary and parameter
// defaults (describe_refinement); a new attention passes its own
// LastBlockConfig (see plugins/examples/hybrid_attention).
#pragma once

#include "ovseg/clip/last_block.hpp"

namespace ovseg::clip {

struct RefinementDefaults {
  const char* name;
  const char* summary;
  const char* attention;
  bool residual;
  bool ffn;
  bool expose_gaussian;  // declare `gaussian_std` (NACLIP, last_block)
  double gaussian_std;
};

// Ports plus `attention`, `residual`, `ffn` (and `gaussian_std`) with the
// method's defaults.
PluginDescriptor describe_refinement(const RefinementDefaults& d);

// The ports alone (tokens, model -> features, cls), for a refinement that
// declares its own parameters.
PluginDescriptor& add_refinement_ports(PluginDescriptor& d);

class RefinementStage : public Stage {
 public:
  // Reads `attention`, `residual`, `ffn` (and `gaussian_std`) as declared by
  // describe_refinement.
  explicit RefinementStage(const StageInit& init);
  // Any block configuration, e.g. one with a custom_attention.
  explicit RefinementStage(LastBlockConfig config);
  // Checks the inputs (clear errors naming the node), re-runs the last block
  // without gradients (with them while a pipeline trains), sets the outputs.
  void run(StageContext& ctx) override;

 private:
  LastBlock block_;
};

}  // namespace ovseg::clip
