// clearclip: ClearCLIP (Lan et al. 2024). Defaults from the authors' code; see last_block.hpp.
#include "refinement_stage.hpp"

namespace {
using namespace ovseg;
using namespace ovseg::training_free;

class ClearClip : public RefinementStage {
 public:
  static PluginDescriptor describe() {
    return describe_refinement({"clearclip", "ClearCLIP (Lan et al. 2024): q-q self-attention, residual and FFN dropped", "qq", /*residual=*/false, /*ffn=*/false,
                                /*expose_gaussian=*/false, /*gaussian_std=*/0.0});
  }
  using RefinementStage::RefinementStage;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(ClearClip);
