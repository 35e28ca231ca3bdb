// clip_image: CLIP's image tower as an encoder. It hands downstream stages
// three things: the tokens entering the last block (what MaskCLIP, SCLIP,
// ClearCLIP, NACLIP and CLIPtrase re-run their own way), vanilla CLIP dense
// features (all blocks, ln_post, proj), and the model itself.
#include <ovseg/sdk.hpp>

#include "shared_models.hpp"

namespace {

using namespace ovseg;

class ClipImage : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("clip_image", StageKind::Encoder, "CLIP ViT image tower")
        .input("image", PortType::Image, "image (B,3,H,W) RGB in [0,1]; zero-padded to whole patches")
        .output("tokens", PortType::Tokens, "tokens entering the last block (B,1+h*w,width), CLS first")
        .output("features", PortType::FeatureMap, "vanilla dense features ln_post(x)@proj (B,embed,h,w)")
        .output("model", PortType::Model, "the loaded CLIP model, for refinement stages")
        .output("prev_tokens", PortType::Tokens,
                "tokens entering the second-to-last block (B,1+h*w,width); computed only when wired (CLIPtrase)")
        .param("model", "openai:ViT-B/16", "checkpoint: a zoo name (see `ovseg models`) or a file path");
  }

  explicit ClipImage(const StageInit& init)
      : model_(clip_plugins::shared_clip_model(clip_plugins::model_argument(init), at::Device(init.device))) {}

  void run(StageContext& ctx) override {
    const at::Tensor& img = ctx.input<Image>("image").pixels;
    expect_shape(img, {-1, 3, -1, -1}, "node '" + ctx.node_id() + "' input 'image'");
    const int64_t p = model_->geometry().patch_size;
    at::Tensor x = models::normalize_clip_pixels(img);
    // Zero padding after normalisation, as mmseg-style sliding inference does.
    const int64_t pad_h = (p - x.size(2) % p) % p, pad_w = (p - x.size(3) % p) % p;
    if (pad_h || pad_w) x = at::constant_pad_nd(x, {0, pad_w, 0, pad_h}, 0.0);

    const bool want_features = ctx.wants_output("features");
    models::VisionForward fwd;
    if (ctx.wants_output("prev_tokens")) {
      // Same blocks as encode_image_tokens, split one block earlier.
      const int64_t L = model_->geometry().vision_layers;
      if (L < 2) throw std::invalid_argument("'prev_tokens' needs a model with at least 2 vision blocks");
      at::Tensor prev = model_->run_vision_blocks(model_->embed_image(x, &fwd.grid_h, &fwd.grid_w), 0, L - 2);
      ctx.set_output("prev_tokens", Tokens{prev, fwd.grid_h, fwd.grid_w, true});
      fwd.penultimate = model_->run_vision_blocks(prev, L - 2, L - 1);
      if (want_features) fwd.final_tokens = model_->run_vision_blocks(fwd.penultimate, L - 1, L);
    } else {
      fwd = model_->encode_image_tokens(x, false, /*run_last_block=*/want_features);
    }
    ctx.set_output("tokens", Tokens{fwd.penultimate, fwd.grid_h, fwd.grid_w, true});
    if (want_features) {
      at::Tensor dense = model_->project_tokens(fwd.final_tokens.narrow(1, 1, fwd.grid_h * fwd.grid_w));
      ctx.set_output(
          "features",
          FeatureMap{
              dense.transpose(1, 2).reshape({dense.size(0), dense.size(2), fwd.grid_h, fwd.grid_w}).contiguous()});
    }
    ctx.set_output("model", ModelHandle::of(model_));
  }

  // The vision tower's tensors, frozen by default (a foundation model); a
  // node's `trainable` picks what fine-tunes, e.g. CAT-Seg's choice
  // ["visual.transformer.resblocks.*.attn.q_proj_weight",
  //  "visual.transformer.resblocks.*.attn.v_proj_weight"]. The first call
  // gives this node its own copy of the model (others sharing the checkpoint
  // keep the original) with q/k/v split so each can train on its own.
  std::vector<NamedTensor> parameters() override {
    if (!own_copy_) {
      model_ = model_->clone();
      model_->split_vision_in_proj();
      own_copy_ = true;
    }
    std::vector<NamedTensor> out;
    for (auto& [name, t] : model_->vision_tensors()) out.push_back({name, t, /*trainable=*/false});
    return out;
  }

 private:
  bool own_copy_ = false;
  std::shared_ptr<models::ClipModel> model_;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(ClipImage);
