// naclip: NACLIP (Hajimiri et al., WACV 2025), clip/model.py custom_attn with
// attn_strategy='naclip', arch='reduced': softmax(k k^T s + Gaussian prior,
// std 5 patches), the attention output alone (no residual, no FFN).
#include <ovseg/clip/refinement_stage.hpp>

namespace {
using namespace ovseg;
using namespace ovseg::clip;

class Naclip : public RefinementStage {
 public:
  static PluginDescriptor describe() {
    return describe_refinement({"naclip",
                                "NACLIP (Hajimiri et al. 2025): softmax(k k^T s + Gaussian neighbourhood prior), "
                                "reduced block: no residual, no FFN",
                                "kk", /*residual=*/false, /*ffn=*/false,
                                /*expose_gaussian=*/true, /*gaussian_std=*/5.0});
  }
  using RefinementStage::RefinementStage;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(Naclip);
