// maskclip: MaskCLIP's training-free dense features (Zhou et al., ECCV 2022):
// the last block's attention becomes the identity, so each patch keeps
// v_proj(ln_1(x)) -> out_proj; no residual, no FFN; then ln_post, proj (as
// ClearCLIP's model_type='MaskCLIP' re-implementation).
#include <ovseg/clip/refinement_stage.hpp>

namespace {
using namespace ovseg;
using namespace ovseg::clip;

class MaskClip : public RefinementStage {
 public:
  static PluginDescriptor describe() {
    return describe_refinement(
        {"maskclip",
         "MaskCLIP (Zhou et al. 2022): last block's attention is the identity on v; v -> out_proj -> ln_post -> proj",
         "v", /*residual=*/false, /*ffn=*/false,
         /*expose_gaussian=*/false, /*gaussian_std=*/0.0});
  }
  using RefinementStage::RefinementStage;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(MaskClip);
