// sclip: SCLIP (Wang et al., ECCV 2024), clip/model.py custom_attn(csa=True):
// softmax(q q^T s) + softmax(k k^T s) summed, inside the unchanged
// x + attn(ln_1(x)); x + mlp(ln_2(x)).
#include <ovseg/clip/refinement_stage.hpp>

namespace {
using namespace ovseg;
using namespace ovseg::clip;

class Sclip : public RefinementStage {
 public:
  static PluginDescriptor describe() {
    return describe_refinement({"sclip",
                                "SCLIP (Wang et al. 2024): correlative self-attention softmax(q q^T s) + softmax(k k^T "
                                "s), residual and FFN kept",
                                "qq+kk", /*residual=*/true, /*ffn=*/true,
                                /*expose_gaussian=*/false, /*gaussian_std=*/0.0});
  }
  using RefinementStage::RefinementStage;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(Sclip);
