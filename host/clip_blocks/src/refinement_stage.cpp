#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x

#include "ovseg/clip/refinement_stage.hpp"

#include <optional>

namespace ovseg::clip {

PluginDescriptor& add_refinement_ports(PluginDescriptor& p) {
  return p
      .input("tokens", PortType::Tokens,
             "tokens entering the last block (B,1+h*w,width), CLS first: clip_image's 'tokens'")
      .input("model", PortType::Model, "the CLIP model: clip_image's 'model'")
      .output("features", PortType::FeatureMap, "ln_post(re-run last block)@proj on the patch tokens (B,embed,h,w)")
      .output("cls", PortType::FeatureMap,
              "the CLS token through the same block, ln_post, proj (B,embed,1,1): image-level features "
              "(CLIPtrase's VOC20 class weighting)");
}

PluginDescriptor describe_refinement(const RefinementDefaults& d) {
  PluginDescriptor p(d.name, StageKind::Refinement, d.summary);
  add_refinement_ports(p)
      .param("attention", d.attention,
             "attention map: 'vanilla' softmax(q k^T s); 'v' identity (MaskCLIP); pairs joined by '+' are "
             "summed softmaxes, e.g. 'qq+kk' = softmax(q q^T s) + softmax(k k^T s); s = head_dim^-0.5")
      .choices(attention_choices())
      .param("residual", d.residual, "keep the residual connection x + attn(ln_1(x))")
      .param("ffn", d.ffn, "keep the FFN: y + mlp(ln_2(y))");
  if (d.expose_gaussian)
    p.param("gaussian_std", d.gaussian_std,
            "NACLIP neighbourhood prior: exp(-dist^2/(2 std^2)) in patches added to the attention logits; 0 = off")
        .range(0.0, std::nullopt);
  return p;
}

namespace {
LastBlockConfig config_from(const Params& p) {
  LastBlockConfig c;
  c.terms = parse_attention(p.get_string("attention"));
  c.residual = p.get_bool("residual");
  c.ffn = p.get_bool("ffn");
  c.gaussian_std = p.has("gaussian_std") ? p.get_float("gaussian_std") : 0.0;
  if (c.terms.empty() && c.gaussian_std > 0)
    throw std::invalid_argument("gaussian_std > 0 needs an attention map; attention 'v' (identity) has none");
  return c;
}
}  // namespace

RefinementStage::RefinementStage(const StageInit& init) : block_(config_from(init.params)) {}
RefinementStage::RefinementStage(LastBlockConfig config) : block_(std::move(config)) {}

void RefinementStage::run(StageContext& ctx) {
  // Gradients pass through while a pipeline trains (a fine-tuned encoder
  // below this block); otherwise none are recorded.
  std::optional<at::NoGradGuard> no_grad;
  if (!ctx.training()) no_grad.emplace();
  const Tokens& tokens = ctx.input<Tokens>("tokens");
  auto model = clip_model_input(ctx);
  check_block_input(tokens, *model, "node '" + ctx.node_id() + "' input 'tokens'");
  LastBlock::Projected out = block_.project(*model, tokens);
  ctx.set_output("features", FeatureMap{out.patches});
  if (ctx.wants_output("cls")) ctx.set_output("cls", FeatureMap{out.cls});
}

}  // namespace ovseg::clip
