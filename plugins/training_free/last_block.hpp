// The shared core of the training-free last-block refinements (MaskCLIP,
// SCLIP, ClearCLIP, NACLIP, CLIPtrase). Every one of them re-runs CLIP's last
// residual block on the tokens entering it and changes three things only:
//   - the attention map: a sum of softmax(a b^T * d^-1/2 [+ Gaussian prior])
//     over the pairs it names (vanilla q-k; SCLIP q-q + k-k; ClearCLIP q-q;
//     NACLIP k-k + prior; CLIPtrase q-q + k-k + v-v), or MaskCLIP's identity
//     (every token keeps its own value vector);
//   - whether the residual x + attn(...) is kept;
//   - whether the FFN y + mlp(ln_2(y)) is kept.
// The patch tokens of the result go through ln_post and proj (CLS dropped).
#pragma once

#include <ovseg/sdk.hpp>
#include <ovseg/models/clip_model.hpp>
#include <ovseg/models/shared_clip.hpp>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ovseg::training_free {

inline constexpr const char* kClipHandleType = models::kClipModelHandleType;

// One softmax term of the attention map: logits = (a b^T) * scale.
enum class Operand { Q, K, V };
struct AttentionTerm {
  Operand a, b;
};

struct LastBlockConfig {
  // Empty = identity attention (MaskCLIP's v path).
  std::vector<AttentionTerm> terms;
  bool residual = true;
  bool ffn = true;
  // > 0: NACLIP's Gaussian neighbourhood prior exp(-|p - p'|^2 / (2 std^2))
  // (in patch units, zero on the CLS row and column) added to each term's
  // logits before its softmax.
  double gaussian_std = 0.0;
};

// The attention kinds the plugins accept, e.g. "vanilla" (= q-k), "v"
// (identity), "qq", "kk", "vv", "qq+kk", "qq+kk+vv". Throws naming `kind`.
std::vector<AttentionTerm> parse_attention(const std::string& kind);
const std::vector<std::string>& attention_choices();

// NACLIP's prior for an (h, w) patch grid with a leading CLS token:
// (1+h*w, 1+h*w), row-major patches.
at::Tensor gaussian_prior(int64_t h, int64_t w, double std, const at::TensorOptions& opts);

class LastBlock {
 public:
  explicit LastBlock(LastBlockConfig cfg) : cfg_(std::move(cfg)) {}
  // tokens: (B, 1+h*w, width) entering `blk` (CLS first). Returns the block's
  // output tokens (B, 1+h*w, width), before ln_post.
  at::Tensor run_block(const models::ResidualBlockWeights& blk, const Tokens& tokens);
  // run_block, then ln_post @ proj on every token.
  struct Projected {
    at::Tensor patches;  // (B, embed, h, w)
    at::Tensor cls;      // (B, embed, 1, 1): the CLS token through the same block
  };
  Projected project(const models::ClipModel& model, const Tokens& tokens);
  at::Tensor features(const models::ClipModel& model, const Tokens& tokens) { return project(model, tokens).patches; }
  const LastBlockConfig& config() const { return cfg_; }

 private:
  at::Tensor attention_output(const models::ResidualBlockWeights& blk, const at::Tensor& x_ln1,
                              int64_t grid_h, int64_t grid_w);
  LastBlockConfig cfg_;
  // Gaussian priors by grid; a pipeline sees one or two grid sizes.
  std::map<std::pair<int64_t, int64_t>, at::Tensor> prior_cache_;
};

// Checks what every refinement plugin receives: CLS-first tokens of a patch
// grid whose width matches the model. `what` names the node and port.
void check_block_input(const Tokens& tokens, const models::ClipModel& model, const std::string& what);

// The ClipModel behind a `model` input, with a clear error otherwise.
std::shared_ptr<models::ClipModel> clip_model_input(StageContext& ctx, const std::string& port = "model");

// (B, N, C) patch tokens of an (h, w) grid -> (B, C, h, w), contiguous.
at::Tensor tokens_to_map(const at::Tensor& tokens, int64_t h, int64_t w);

}  // namespace ovseg::training_free
