// cliptrase: CLIPtrase's last block (Shao et al., ECCV 2024): attention
// softmax(q q^T s) + softmax(k k^T s) + softmax(v v^T s), residual and FFN
// kept (clip_utils/attn2.py, self_qk_weight). Its patch clustering is the
// separate plugins cliptrase_correlation and cliptrase_cluster_vote.
#include <ovseg/clip/refinement_stage.hpp>

namespace {
using namespace ovseg;
using namespace ovseg::clip;

class Cliptrase : public RefinementStage {
 public:
  static PluginDescriptor describe() {
    return describe_refinement(
        {"cliptrase", "CLIPtrase last block: softmax(qq^T s)+softmax(kk^T s)+softmax(vv^T s), residual and FFN kept",
         "qq+kk+vv", /*residual=*/true, /*ffn=*/true,
         /*expose_gaussian=*/false, /*gaussian_std=*/0.0});
  }
  using RefinementStage::RefinementStage;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(Cliptrase);
