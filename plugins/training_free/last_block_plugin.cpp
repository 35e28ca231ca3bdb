// last_block: every knob of the shared core exposed for ablation sweeps
// (attention kind x residual x FFN x Gaussian prior); defaults = vanilla CLIP.
#include <ovseg/clip/refinement_stage.hpp>

namespace {
using namespace ovseg;
using namespace ovseg::clip;

class LastBlockAblation : public RefinementStage {
 public:
  static PluginDescriptor describe() {
    return describe_refinement(
        {"last_block",
         "generic last-block re-run for ablation sweeps: attention kind x residual x FFN x Gaussian prior", "vanilla",
         /*residual=*/true, /*ffn=*/true,
         /*expose_gaussian=*/true, /*gaussian_std=*/0.0});
  }
  using RefinementStage::RefinementStage;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(LastBlockAblation);
