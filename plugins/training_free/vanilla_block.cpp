// vanilla_block: CLIP's last block as trained (nn.MultiheadAttention, residual,
// FFN), re-run in the refinement slot: the baseline every method changes,
// and the reference point of last_block ablations.
#include <ovseg/clip/refinement_stage.hpp>

namespace {
using namespace ovseg;
using namespace ovseg::clip;

class VanillaBlock : public RefinementStage {
 public:
  static PluginDescriptor describe() {
    return describe_refinement({"vanilla_block",
                                "CLIP's own last block (the baseline): softmax(q k^T s), residual and FFN kept",
                                "vanilla", /*residual=*/true, /*ffn=*/true,
                                /*expose_gaussian=*/false, /*gaussian_std=*/0.0});
  }
  using RefinementStage::RefinementStage;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(VanillaBlock);
