// hybrid_attention: the worked example of README "Writing a plugin that uses
// CLIP". A new last-block attention in one page: NACLIP's neighbourhood
// attention softmax(k k^T s + Gaussian prior) mixed with ClearCLIP's
// softmax(q q^T s),
//   A = mix * softmax(k k^T s + G) + (1 - mix) * softmax(q q^T s),
// then A v, out_proj, (no) residual, (no) FFN, ln_post, proj as every
// training-free refinement (<ovseg/clip/last_block.hpp>). An illustration of
// the library, not a published method: mix = 1 is NACLIP's map, mix = 0
// ClearCLIP's (without its residual and FFN).
#include <ovseg/clip/refinement_stage.hpp>

namespace {
using namespace ovseg;

class HybridAttention : public clip::RefinementStage {
 public:
  static PluginDescriptor describe() {
    PluginDescriptor d("hybrid_attention", StageKind::Refinement,
                       "example: mix * NACLIP's softmax(k k^T s + Gaussian prior) + (1 - mix) * ClearCLIP's "
                       "softmax(q q^T s) in CLIP's last block");
    clip::add_refinement_ports(d)
        .param("mix", 0.5, "weight of NACLIP's k-k map; 1 - mix goes to ClearCLIP's q-q map")
        .range(0.0, 1.0)
        .param("gaussian_std", 5.0, "NACLIP's prior exp(-dist^2/(2 std^2)), in patches; 0 = no prior")
        .range(0.0, std::nullopt)
        .param("residual", false, "keep the residual connection x + attn(ln_1(x))")
        .param("ffn", false, "keep the FFN: y + mlp(ln_2(y))");
    return d;
  }

  explicit HybridAttention(const StageInit& init) : RefinementStage(config(init.params)) {}

 private:
  static clip::LastBlockConfig config(const Params& p) {
    clip::LastBlockConfig c;
    c.residual = p.get_bool("residual");
    c.ffn = p.get_bool("ffn");
    const double mix = p.get_float("mix"), sigma = p.get_float("gaussian_std");
    // Called with q, k, v of the tokens entering the block; returns the map
    // (B, heads, 1+h*w, 1+h*w) that mixes v.
    c.custom_attention = [mix, sigma](const clip::AttentionOperands& x) {
      at::Tensor prior;
      if (sigma > 0) prior = clip::gaussian_prior(x.grid_h, x.grid_w, sigma, x.k.options());
      return clip::softmax_attention(x.k, x.k, x.scale, prior).mul_(mix) +
             clip::softmax_attention(x.q, x.q, x.scale).mul_(1.0 - mix);
    };
    return c;
  }
};

}  // namespace

OVSEG_REGISTER_PLUGIN(HybridAttention);
