// cliprc_encoder: CLIP-RC's image encoder (uyzhang/CLIP-RC
// models/backbone/img_encoder_rlb.py, CLIPVisionTransformerWithRLB): CLIP's
// frozen ViT with
//   - deep visual prompt tokens (VPT-deep): P learnable tokens after the CLS
//     token, projected by prompt_proj (and dropped out while training),
//     entering with the embedding and replaced before every later block;
//     prompt_norm (LayerNorm, eps 1e-6) on every non-region token at the end;
//   - region-level bridge tokens: R = r x r tokens appended after the patches
//     (before ln_pre), initialised as CLIP's CLS token (class_embedding +
//     its position), each attending only to its own block of patches and
//     itself, and seen only by those patches (an additive attention mask in
//     every block; CLS and prompts never see them).
// The tower runs through ClipModel's token-injection hook (embed_image's
// options + run_vision_blocks' mask and per-block hook), not a copy of it.
// Outputs, after ln_post and proj, L2-normalised: the dense patch features,
// the global (CLS) embedding and the region embeddings.
//
// The authors' forward also (and this stage does the same, for parity):
// normalises pixels with mmseg's ImageNet statistics; resamples positions
// bilinearly from a grid resized once at load (input_resolution); adds
// class_embedding to the CLS position as well (so the CLS token carries it
// twice). Which tensors train follows the released configs: parameters whose
// name contains "prompt" (exclude_key='prompt'); the region tokens' name does
// not, so they stay at their initial value unless `trainable` says otherwise.
#include <ovseg/sdk.hpp>

#include <cmath>
#include <limits>
#include <map>
#include <utility>

#include "cliprc_common.hpp"
#include "ovseg/models/shared_clip.hpp"

namespace {

using namespace ovseg;
using ovseg::cliprc::LayerNorm;
using ovseg::cliprc::Linear;

class ClipRcEncoder : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor(
               "cliprc_encoder", StageKind::Encoder,
               "CLIP-RC image encoder: CLIP ViT + deep prompts + region-level bridge tokens (masked attention)")
        .input("image", PortType::Image, "image (B,3,H,W) RGB in [0,1]; zero-padded to whole patches")
        .output("features", PortType::FeatureMap,
                "L2-normalised dense patch features ln_post(prompt_norm(x))@proj (B,embed,h,w)")
        .output("global", PortType::FeatureMap, "L2-normalised global (CLS) embedding (B,embed,1,1)")
        .output("regions", PortType::FeatureMap,
                "L2-normalised region embeddings (B,embed,r,r), row-major blocks; zeros (B,embed,1,1) with "
                "region_tokens = 0")
        .param(
            "model", "openai:ViT-B/16",
            "CLIP checkpoint (zoo name or path; a released CLIP-RC checkpoint works too: its backbone is CLIP's tower)")
        .param("input_resolution", 0,
               "positions are resized (bilinearly, once) to this resolution's grid, as the authors do at load "
               "(their configs: 512); 0 = the checkpoint's own")
        .range(0, std::nullopt)
        .param("prompt_tokens", 100, "visual prompt tokens P (the released COCO config: 100, VOC: 10; 0 = none)")
        .range(0, 4096)
        .param("deep_prompts", true,
               "true: new prompts before every block (VPT-deep, total_d_layer = layers-1, with prompt_norm); "
               "false: prompts only at the input (VPT-shallow, total_d_layer = 0)")
        .param("region_tokens", 16,
               "region-level bridge tokens R, a square r*r (16 = 4x4 regions; 4 = 2x2; 0 = none: the head then "
               "reduces to ZegCLIP's [g*t; t] queries)")
        .range(0, 4096)
        .param("prompt_dropout", 0.1, "dropout on the projected prompts while training")
        .range(0.0, 1.0)
        .param("pixel_normalization", "imagenet",
               "imagenet: mmseg's img_norm_cfg as CLIP-RC's configs (255x - [123.675, 116.28, 103.53]) / "
               "[58.395, 57.12, 57.375]; clip: CLIP's own statistics")
        .choices({"imagenet", "clip"})
        .param("init_seed", 0, "seed of the prompts' initialisation")
        .range(0, std::nullopt)
        .param("checkpoint", "",
               "a released CLIP-RC checkpoint (mmseg state dict): its backbone prompt and region tensors are loaded "
               "(\"\" = initialise as the authors' code does)");
  }

  explicit ClipRcEncoder(const StageInit& init)
      : model_(models::shared_clip_model(models::clip_model_argument(init), at::Device(init.device))),
        P_(init.params.get_int("prompt_tokens")),
        deep_(init.params.get_bool("deep_prompts")),
        R_(init.params.get_int("region_tokens")),
        dropout_(init.params.get_float("prompt_dropout")),
        imagenet_(init.params.get_string("pixel_normalization") == "imagenet") {
    const auto& g = model_->geometry();
    const int64_t W = g.vision_width, L = g.vision_layers;
    r_ = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(R_))));
    if (r_ * r_ != R_)
      throw std::invalid_argument("region_tokens = " + std::to_string(R_) +
                                  " is not a square (r x r regions: 0, 1, 4, 9, 16, ...)");
    // The grid positions the authors' forward resamples from (init_weights
    // resizes CLIP's to input_resolution / patch once).
    positions_ = model_->vision_positional_embedding;
    if (const int64_t res = init.params.get_int("input_resolution"); res > 0) {
      if (res % g.patch_size != 0)
        throw std::invalid_argument("input_resolution " + std::to_string(res) +
                                    " is not a multiple of the patch size " + std::to_string(g.patch_size));
      const int64_t s = res / g.patch_size;
      positions_ = models::interpolate_positional_embedding(positions_, s, s, /*bilinear=*/true);
    }

    // Initialisation as _init_prompt and init_weights do.
    at::Generator gen = cliprc::make_generator(static_cast<uint64_t>(init.params.get_int("init_seed")));
    const int64_t patch = g.patch_size;
    const double val = std::sqrt(6.0 / static_cast<double>(3 * patch * patch + W));  // xavier_uniform bound
    if (P_ > 0) {
      prompts_ = at::empty({1, P_, W}).uniform_(-val, val, gen);
      if (deep_ && L > 1) deep_prompts_ = at::empty({L - 1, P_, W}).uniform_(-val, val, gen);
    }
    // prompt_proj: nn.Linear, weight kaiming_normal_(a=0, mode='fan_out'),
    // bias as nn.Linear's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    proj_.weight = at::empty({W, W}).normal_(0.0, std::sqrt(2.0 / static_cast<double>(W)), gen);
    const double bound = 1.0 / std::sqrt(static_cast<double>(W));
    proj_.bias = at::empty({W}).uniform_(-bound, bound, gen);
    norm_ = cliprc::layer_norm(W, 1e-6);
    if (R_ > 0) {
      // region_level_bridge = class_embedding + cls_pos, repeated.
      region_ =
          (model_->class_embedding + model_->vision_positional_embedding[0]).unsqueeze(0).repeat({R_, 1}).contiguous();
    }
    const at::Device device(init.device);
    for (at::Tensor* t : {&prompts_, &deep_prompts_, &proj_.weight, &proj_.bias, &norm_.weight, &norm_.bias, &region_})
      if (t->defined()) *t = t->to(device);
    positions_ = positions_.to(device);

    const std::string ckpt = init.params.get_string("checkpoint");
    if (!ckpt.empty()) {
      // Keys of the released backbone that are CLIP's tower, not this stage's.
      cliprc::load_released_section(init.resolve_path(ckpt), "backbone.", parameters(),
                                    [](const std::string& k, const at::Tensor& t) {
                                      const bool own = k.rfind("prompt_", 0) == 0 || k == "region_level_bridge" ||
                                                       k == "deep_prompt_embeddings";
                                      return !own || t.numel() == 0;  // CLIP's tower; P = 0's empty prompts
                                    });
    }
  }

  void run(StageContext& ctx) override {
    const at::Tensor& img = ctx.input<Image>("image").pixels;
    expect_shape(img, {-1, 3, -1, -1}, "node '" + ctx.node_id() + "' input 'image'");
    const auto& g = model_->geometry();
    const int64_t p = g.patch_size, L = g.vision_layers;
    at::Tensor x = imagenet_ ? models::normalize_imagenet_pixels(img) : models::normalize_clip_pixels(img);
    const int64_t pad_h = (p - x.size(2) % p) % p, pad_w = (p - x.size(3) % p) % p;
    if (pad_h || pad_w) x = at::constant_pad_nd(x, {0, pad_w, 0, pad_h}, 0.0);

    models::ImageEmbedOptions opts;
    opts.positional_embedding = positions_;
    opts.bilinear_positions = true;
    opts.class_embedding_in_cls_position = true;
    if (R_ > 0) opts.appended_tokens = region_;
    int64_t gh = 0, gw = 0;
    at::Tensor tokens = model_->embed_image(x, &gh, &gw, opts);
    const int64_t B = tokens.size(0), HW = gh * gw;
    if (R_ > 0 && (gh < r_ || gw < r_))
      throw std::invalid_argument("node '" + ctx.node_id() + "': a " + std::to_string(gh) + "x" + std::to_string(gw) +
                                  " patch grid cannot hold " + std::to_string(r_) + "x" + std::to_string(r_) +
                                  " regions");

    const bool training = ctx.training();
    auto prompt_tokens = [&](const at::Tensor& raw) {  // prompt_dropout(prompt_proj(raw).expand(B, -1, -1))
      return at::dropout(proj_(raw).expand({B, P_, raw.size(-1)}), dropout_, training);
    };
    models::VisionBlockHook hook;
    if (P_ > 0)
      hook = [&](int64_t block, const at::Tensor& h) {
        if (block == 0)  // [CLS, prompts, patches, regions]
          return at::cat({h.narrow(1, 0, 1), prompt_tokens(prompts_), h.narrow(1, 1, h.size(1) - 1)}, 1);
        if (!deep_) return h;
        return at::cat({h.narrow(1, 0, 1), prompt_tokens(deep_prompts_[block - 1].unsqueeze(0)),
                        h.narrow(1, 1 + P_, h.size(1) - 1 - P_)},
                       1);
      };
    at::Tensor h = model_->run_vision_blocks(tokens, 0, L, region_mask(gh, gw, tokens.device()), hook);
    if (deep_)  // prompt_norm on everything but the region tokens (forward_deep_prompt)
      h = at::cat({norm_(h.narrow(1, 0, h.size(1) - R_)), h.narrow(1, h.size(1) - R_, R_)}, 1);
    at::Tensor out = model_->project_tokens(h);  // ln_post, @ proj: (B, N, embed)
    const int64_t D = out.size(2);

    auto to_map = [&](const at::Tensor& t, int64_t hh, int64_t ww) {  // (B, hh*ww, D) -> (B, D, hh, ww)
      return t.reshape({B, hh, ww, D}).permute({0, 3, 1, 2});
    };
    auto unit = [](const at::Tensor& t) { return t / t.norm(2, 1, /*keepdim=*/true); };  // x / x.norm(dim=1)
    ctx.set_output("features", FeatureMap{unit(to_map(out.narrow(1, 1 + P_, HW), gh, gw)).contiguous()});
    ctx.set_output("global", FeatureMap{unit(out.select(1, 0)).view({B, D, 1, 1})});
    ctx.set_output("regions", FeatureMap{R_ > 0 ? unit(to_map(out.narrow(1, out.size(1) - R_, R_), r_, r_)).contiguous()
                                                : at::zeros({B, D, 1, 1}, out.options())});
  }

  // Names as the authors' module names them (without "backbone.").
  std::vector<NamedTensor> parameters() override {
    std::vector<NamedTensor> out;
    if (P_ > 0) out.push_back({"prompt_embeddings", prompts_, true});
    if (deep_prompts_.defined()) out.push_back({"deep_prompt_embeddings", deep_prompts_, true});
    cliprc::add(out, "prompt_proj", proj_, /*trainable=*/P_ > 0);  // the authors build both whatever P is
    cliprc::add(out, "prompt_norm", norm_, /*trainable=*/deep_);   // used with deep prompts only
    if (R_ > 0) out.push_back({"region_level_bridge", region_, false});
    return out;
  }

 private:
  // gen_attention_mask for a gh x gw grid: (N,N) additive, N = 1 + P + gh*gw + R;
  // region i*r + j and the patches of block (i, j) (rows i*sh.., columns j*sw..,
  // sh = gh / r, sw = gw / r, as the authors' integer stride) see each other;
  // a region token sees itself; nothing else sees a region token. Undefined
  // without region tokens.
  at::Tensor region_mask(int64_t gh, int64_t gw, at::Device device) {
    if (R_ == 0) return {};
    const auto key = std::make_pair(gh, gw);
    if (auto it = masks_.find(key); it != masks_.end()) return it->second;
    const int64_t N = 1 + P_ + gh * gw + R_, first_region = N - R_, sh = gh / r_, sw = gw / r_;
    at::Tensor m = at::zeros({N, N});
    m.narrow(1, first_region, R_).fill_(-std::numeric_limits<float>::infinity());
    m.narrow(0, first_region, R_).fill_(-std::numeric_limits<float>::infinity());
    auto a = m.accessor<float, 2>();
    for (int64_t i = 0; i < r_; ++i)
      for (int64_t j = 0; j < r_; ++j) {
        const int64_t reg = first_region + i * r_ + j;
        for (int64_t y = i * sh; y < (i + 1) * sh; ++y)
          for (int64_t x = j * sw; x < (j + 1) * sw; ++x) {
            const int64_t patch = 1 + P_ + y * gw + x;
            a[reg][patch] = 0.f;
            a[patch][reg] = 0.f;
          }
        a[reg][reg] = 0.f;
      }
    return masks_[key] = m.to(device);
  }

  std::shared_ptr<models::ClipModel> model_;  // shared, frozen
  int64_t P_, r_ = 0;
  bool deep_;
  int64_t R_;
  double dropout_;
  bool imagenet_;
  at::Tensor positions_;               // (1+s*s, W): the grid positions resample from
  at::Tensor prompts_, deep_prompts_;  // (1,P,W), (L-1,P,W)
  Linear proj_;                        // prompt_proj
  LayerNorm norm_;                     // prompt_norm
  at::Tensor region_;                  // region_level_bridge (R,W)
  std::map<std::pair<int64_t, int64_t>, at::Tensor> masks_;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(ClipRcEncoder);
