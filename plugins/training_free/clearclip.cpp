// clearclip: ClearCLIP (Lan et al., ECCV 2024), open_clip/transformer.py
// custom_attn(model_type='ClearCLIP') with ignore_residual=True: softmax(q q^T s)
// and the attention output alone (no residual, no FFN) goes to ln_post, proj.
#include <ovseg/clip/refinement_stage.hpp>

namespace {
using namespace ovseg;
using namespace ovseg::clip;

class ClearClip : public RefinementStage {
 public:
  static PluginDescriptor describe() {
    return describe_refinement({"clearclip",
                                "ClearCLIP (Lan et al. 2024): q-q self-attention, residual and FFN dropped", "qq",
                                /*residual=*/false, /*ffn=*/false,
                                /*expose_gaussian=*/false, /*gaussian_std=*/0.0});
  }
  using RefinementStage::RefinementStage;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(ClearClip);
