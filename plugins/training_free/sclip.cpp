// sclip: SCLIP (Wang et al. 2024). Defaults from the authors' code; see last_block.hpp.
#include "refinement_stage.hpp"

namespace {
using namespace ovseg;
using namespace ovseg::training_free;

class Sclip : public RefinementStage {
 public:
  static PluginDescriptor describe() {
    return describe_refinement({"sclip", "SCLIP (Wang et al. 2024): correlative self-attention softmax(q q^T s) + softmax(k k^T s), residual and FFN kept", "qq+kk", /*residual=*/true, /*ffn=*/true,
                                /*expose_gaussian=*/false, /*gaussian_std=*/0.0});
  }
  using RefinementStage::RefinementStage;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(Sclip);
