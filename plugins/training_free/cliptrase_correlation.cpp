// cliptrase_correlation: CLIPtrase's patch self-correlation from block 11 of
// 12 (the second-to-last). Per head, the cosine similarities q-q, k-k and v-v
// of ln_1(x) are averaged ((qq+kk+vv)/3), then averaged over heads; the CLS
// row is subtracted from every patch row ("global patch denoise") and the
// result clamped at 0 (clip_self_correlation.py). Output layout: channel i is
// patch i's row laid out on the grid, (B, h*w, h, w), which is what
// cliptrase_cluster_vote clusters.
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x

#include <ovseg/clip/last_block.hpp>

namespace {
using namespace ovseg;
using namespace ovseg::clip;

class CliptraseCorrelation : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("cliptrase_correlation", StageKind::Refinement,
                            "CLIPtrase block self-correlation (qq+kk+vv)/3 cosine, minus the CLS row, clamped at 0")
        .input("tokens", PortType::Tokens,
               "tokens entering the correlation block (B,1+h*w,width): clip_image's 'prev_tokens' for block -2")
        .input("model", PortType::Model, "the CLIP model: clip_image's 'model'")
        .output("correlation", PortType::FeatureMap, "(B,h*w,h,w): channel i = patch i's correlation with every patch")
        .param("block", int64_t{-2},
               "vision block whose q/k/v are correlated; negative counts from the end (-2 = block 11 of 12)");
  }
  explicit CliptraseCorrelation(const StageInit& init) : block_(init.params.get_int("block")) {}

  void run(StageContext& ctx) override {
    at::NoGradGuard no_grad;
    const Tokens& tokens = ctx.input<Tokens>("tokens");
    auto model = clip_model_input(ctx);
    const std::string what = "node '" + ctx.node_id() + "' input 'tokens'";
    check_block_input(tokens, *model, what);
    const int64_t L = model->geometry().vision_layers;
    const int64_t b = block_ < 0 ? L + block_ : block_;
    if (b < 0 || b >= L)
      throw std::invalid_argument("block " + std::to_string(block_) + " is outside the model's " + std::to_string(L) +
                                  " vision blocks");
    const models::ResidualBlockWeights& blk = model->vision_block(b);
    models::QKV qkv = models::block_qkv(blk, models::layer_norm(tokens.tokens, blk.ln1_w, blk.ln1_b));
    // torch.cosine_similarity(x1, x2) = x1.x2 / max(|x1||x2|, 1e-8): unit
    // vectors then one batched matmul per operand.
    auto cos = [](const at::Tensor& t) {
      at::Tensor u = t / t.norm(2, -1, true).clamp_min(1e-8);
      return at::matmul(u, u.transpose(-2, -1));
    };
    at::Tensor corr = cos(qkv.q).add_(cos(qkv.k)).add_(cos(qkv.v)).div_(3.0).mean(1);  // (B,N,N)
    const int64_t n = tokens.grid_h * tokens.grid_w;
    at::Tensor patches = corr.narrow(1, 1, n).narrow(2, 1, n) - corr.narrow(1, 0, 1).narrow(2, 1, n);
    patches.clamp_min_(0.0);
    ctx.set_output("correlation",
                   FeatureMap{patches.reshape({patches.size(0), n, tokens.grid_h, tokens.grid_w}).contiguous()});
  }

 private:
  int64_t block_;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(CliptraseCorrelation);
