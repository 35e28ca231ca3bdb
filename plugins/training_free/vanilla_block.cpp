// vanilla_block: CLIP's own last block (the baseline). Defaults from the authors' code; see last_block.hpp.
#include "refinement_stage.hpp"

namespace {
using namespace ovseg;
using namespace ovseg::training_free;

class VanillaBlock : public RefinementStage {
 public:
  static PluginDescriptor describe() {
    return describe_refinement({"vanilla_block", "CLIP's own last block (the baseline): softmax(q k^T s), residual and FFN kept", "vanilla", /*residual=*/true, /*ffn=*/true,
                                /*expose_gaussian=*/false, /*gaussian_std=*/0.0});
  }
  using RefinementStage::RefinementStage;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(VanillaBlock);
