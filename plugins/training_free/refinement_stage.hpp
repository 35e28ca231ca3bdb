// The Stage every last-block refinement plugin is: inputs `tokens` (entering
// the last block) and `model` (clip_image's), output `features`. Each plugin
// differs only in its name, summary and parameter defaults.
#pragma once

#include "last_block.hpp"

namespace ovseg::training_free {

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

class RefinementStage : public Stage {
 public:
  explicit RefinementStage(const StageInit& init);
  void run(StageContext& ctx) override;

 private:
  LastBlock block_;
};

}  // namespace ovseg::training_free
