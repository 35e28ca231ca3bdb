// maskclip: MaskCLIP (Zhou et al. 2022). Defaults from the authors' code; see last_block.hpp.
#include "refinement_stage.hpp"

namespace {
using namespace ovseg;
using namespace ovseg::training_free;

class MaskClip : public RefinementStage {
 public:
  static PluginDescriptor describe() {
    return describe_refinement({"maskclip", "MaskCLIP (Zhou et al. 2022): last block's attention is the identity on v; v -> out_proj -> ln_post -> proj", "v", /*residual=*/false, /*ffn=*/false,
                                /*expose_gaussian=*/false, /*gaussian_std=*/0.0});
  }
  using RefinementStage::RefinementStage;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(MaskClip);
