// Re-running CLIP's last vision block with another attention: the core of the
// training-free refinements (MaskCLIP, SCLIP, ClearCLIP, NACLIP, CLIPtrase)
// and of any new one a plugin writes. Library ovseg_clip_blocks; a plugin
// links it with `LIBS ovseg_clip_blocks` (README "Writing a plugin that uses
// CLIP" walks through plugins/examples/hybrid_attention).
//
// Every one of these methods re-runs CLIP's last residual block on the tokens
// entering it (clip_image's `tokens` output) and changes three things only:
//   - the attention map: a sum of softmax(a b^T * d^-1/2 [+ Gaussian prior])
//     over the pairs it names (vanilla q-k; SCLIP q-q + k-k; ClearCLIP q-q;
//     NACLIP k-k + prior; CLIPtrase q-q + k-k + v-v), MaskCLIP's identity
//     (every token keeps its own value vector), or any map a plugin computes
//     from q, k, v (LastBlockConfig::custom_attention);
//   - whether the residual x + attn(...) is kept;
//   - whether the FFN y + mlp(ln_2(y)) is kept.
// The patch tokens of the result go through ln_post and proj (CLS dropped).
//
// Writing a new attention takes a LastBlockConfig and, for the ports and
// parameters every refinement has, the stage in <ovseg/clip/refinement_stage.hpp>.
#pragma once

#include <ovseg/sdk.hpp>
#include <ovseg/models/clip_model.hpp>
#include <ovseg/models/shared_clip.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ovseg::clip {

// One softmax term of the attention map: logits = (a b^T) * scale.
enum class Operand { Q, K, V };
struct AttentionTerm {
  Operand a, b;
};

// What a custom attention sees: the per-head operands of ln_1(x) for the
// tokens entering the block, CLS first.
struct AttentionOperands {
  const at::Tensor& q;  // (B, heads, 1+h*w, head_dim)
  const at::Tensor& k;
  const at::Tensor& v;
  int64_t grid_h, grid_w;  // the patch grid (tokens 1..h*w, row-major)
  double scale;            // head_dim^-0.5
};
// Returns the attention map (B, heads, 1+h*w, 1+h*w) that mixes v; rows need
// not sum to 1 (SCLIP's sum of two softmaxes does not).
using CustomAttention = std::function<at::Tensor(const AttentionOperands&)>;

struct LastBlockConfig {
  // Empty (and no custom_attention) = identity attention (MaskCLIP's v path).
  std::vector<AttentionTerm> terms;
  bool residual = true;
  bool ffn = true;
  // > 0: NACLIP's Gaussian neighbourhood prior exp(-|p - p'|^2 / (2 std^2))
  // (in patch units, zero on the CLS row and column) added to each term's
  // logits before its softmax.
  double gaussian_std = 0.0;
  // Set: replaces `terms` and `gaussian_std`; called with all of q, k, v.
  CustomAttention custom_attention;
};

// The attention kinds the refinement plugins accept, e.g. "vanilla" (= q-k),
// "v" (identity), "qq", "kk", "vv", "qq+kk", "qq+kk+vv". Throws naming `kind`.
std::vector<AttentionTerm> parse_attention(const std::string& kind);
const std::vector<std::string>& attention_choices();

// NACLIP's prior for an (h, w) patch grid with a leading CLS token:
// (1+h*w, 1+h*w), row-major patches.
at::Tensor gaussian_prior(int64_t h, int64_t w, double std, const at::TensorOptions& opts);

// softmax(a b^T * scale [+ prior]) over the last axis, per head: one term as
// the authors' custom_attn functions compute it (bmm, then scale). For
// custom attentions; `prior` may be undefined.
at::Tensor softmax_attention(const at::Tensor& a, const at::Tensor& b, double scale,
                             const at::Tensor& prior = at::Tensor());

class LastBlock {
 public:
  explicit LastBlock(LastBlockConfig cfg) : cfg_(std::move(cfg)) {}
  // tokens: (B, 1+h*w, width) entering `blk` (CLS first). Returns the block's
  // output tokens (B, 1+h*w, width), before ln_post.
  at::Tensor run_block(const models::ResidualBlockWeights& blk, const Tokens& tokens);
  // run_block on the model's last vision block, then ln_post @ proj on every token.
  struct Projected {
    at::Tensor patches;  // (B, embed, h, w)
    at::Tensor cls;      // (B, embed, 1, 1): the CLS token through the same block
  };
  Projected project(const models::ClipModel& model, const Tokens& tokens);
  const LastBlockConfig& config() const { return cfg_; }

 private:
  at::Tensor attention_output(const models::ResidualBlockWeights& blk, const at::Tensor& x_ln1, int64_t grid_h,
                              int64_t grid_w);
  LastBlockConfig cfg_;
  // Gaussian priors by grid; a pipeline sees one or two grid sizes.
  std::map<std::pair<int64_t, int64_t>, at::Tensor> prior_cache_;
};

// Checks what every refinement plugin receives: CLS-first tokens of a patch
// grid whose width matches the model. `what` names the node and port.
void check_block_input(const Tokens& tokens, const models::ClipModel& model, const std::string& what);

// The ClipModel behind a `model` input (StageContext::model), with a hint to
// wire clip_image's `model` output when it holds something else.
std::shared_ptr<models::ClipModel> clip_model_input(StageContext& ctx, const std::string& port = "model");

// (B, N, C) patch tokens of an (h, w) grid -> (B, C, h, w), contiguous.
at::Tensor tokens_to_map(const at::Tensor& tokens, int64_t h, int64_t w);

}  // namespace ovseg::clip
