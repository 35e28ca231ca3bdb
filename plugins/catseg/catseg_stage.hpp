// The catseg stage's class, shared with ESC-Net's stage (escnet_stage.cpp),
// which runs CAT-Seg's model with SAM blocks before each aggregator layer.
#pragma once

#include <ovseg/sdk.hpp>

#include <set>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x
#include <ATen/CPUGeneratorImpl.h>

#include "catseg_aggregator.hpp"
#include "catseg_clip.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/models/clip_tokenizer.hpp"
#include "ovseg/models/model_zoo.hpp"
#include "ovseg/models/shared_clip.hpp"
#include "ovseg/sdk/diagnostics.hpp"

namespace ovseg::catseg {

inline std::string apply_template(const std::string& t, const std::string& name) {
  const auto pos = t.find("{}");
  if (pos == std::string::npos) throw std::invalid_argument("template '" + t + "' has no {}");
  return t.substr(0, pos) + name + t.substr(pos + 2);
}

class CatSeg : public Stage {
 public:
  static PluginDescriptor describe() {
    return with_params(
        PluginDescriptor("catseg", StageKind::Fusion,
                         "CAT-Seg: CLIP cost volume + spatial/class aggregation + guided upsampling decoder"));
  }

  // CAT-Seg's ports and parameters (ESC-Net's stage adds its own to them).
  static PluginDescriptor with_params(PluginDescriptor d) {
    return std::move(d)
        .input("image", PortType::Image, "image (B,3,H,W) RGB in [0,1]; resized to clip_resolution")
        .output("logits", PortType::Logits,
                "(B,K,4h,4w) at the 4x-upsampled patch grid: sigmoid scores at inference, logits while training")
        .param("model", "openai:ViT-B/16", "CLIP checkpoint (zoo name or path): geometry and initial weights")
        .param("checkpoint", "",
               "a released CAT-Seg checkpoint (detectron2 {\"model\": state_dict}, e.g. model_base.pth): every "
               "CLIP, aggregator and upsampling tensor is read from it (\"\" = CLIP from `model`, the rest "
               "initialised as PyTorch does)")
        .param("class_names", std::vector<std::string>{},
               "classes, synonyms comma-separated (the first is prompted, as CATSegPredictor does); none: the "
               "data set's classes")
        .param("bpe_vocab", "", "CLIP BPE vocabulary file (default: $OVSEG_CLIP_BPE, then the model cache)")
        .param("template", "A photo of a {} in the scene",
               "prompt template (vitb_384.yaml: PROMPT_ENSEMBLE_TYPE single)")
        .param("size_divisibility", 32,
               "images are zero-padded (after normalisation, bottom / right) to a multiple of this before the "
               "resize, as detectron2's ImageList does with MASK_FORMER.SIZE_DIVISIBILITY (32); 0 = off")
        .range(0, 4096)
        .param("clip_resolution", 384,
               "every image is resized (bilinear) to this square before CLIP (ViT-B: 384, ViT-L: 336)")
        .range(1, 4096)
        .param("guidance_layers", std::vector<int64_t>{3, 7},
               "CLIP blocks whose outputs guide decoder stages 1 and 2 (ViT-B: 3, 7; ViT-L: 7, 15)")
        .param("hidden_dim", 128, "aggregator width (HIDDEN_DIMS)")
        .range(1, 4096)
        .param("num_layers", 2, "aggregator layers (NUM_LAYERS; vitb_384: 2)")
        .range(1, 64)
        .param("num_heads", 4, "attention heads in both aggregations (NUM_HEADS)")
        .range(1, 64)
        .param("text_guidance_proj_dim", 128, "TEXT_GUIDANCE_PROJ_DIM")
        .range(1, 4096)
        .param("appearance_guidance_proj_dim", 128, "APPEARANCE_GUIDANCE_PROJ_DIM")
        .range(1, 4096)
        .param("decoder_dims", std::vector<int64_t>{64, 32}, "DECODER_DIMS (each >= 16: GroupNorm(d // 16))")
        .param("decoder_guidance_dims", std::vector<int64_t>{256, 128},
               "DECODER_GUIDANCE_DIMS: upsample1 / upsample2 output channels")
        .param("decoder_guidance_proj_dims", std::vector<int64_t>{32, 16}, "DECODER_GUIDANCE_PROJ_DIMS")
        .param("window_size", 12,
               "Swin window (WINDOW_SIZES; shift = window // 2; a window >= the grid is the grid, unshifted)")
        .range(1, 4096)
        .param("pooling_train", 2, "class-aggregation AvgPool2d while training (POOLING_SIZES in vitb_384.yaml)")
        .range(1, 64)
        .param("pooling_eval", 1, "class-aggregation AvgPool2d at inference (eval.sh: POOLING_SIZES [1,1])")
        .range(1, 64)
        .param("pad_len", 256,
               "class tokens in the class aggregation: fewer classes are padded with learnable tokens, more are cut "
               "to the pad_len best-correlated (others score -100); 0 = off")
        .range(0, 100000)
        .param("class_chunk", 0,
               "classes per chunk in the per-class work (the Swin spatial aggregation, the upsampling decoder and, "
               "in escnet, the SAM blocks); the class aggregation still sees all classes. Caps memory for large "
               "vocabularies, same output; 0 = all classes at once")
        .range(0, std::nullopt)
        .param("scores", "sigmoid", "inference output: sigmoid (the authors' inference) or logits")
        .choices({"sigmoid", "logits"})
        .param("init_seed", 0, "seed of the aggregator's and upsamplers' initialisation")
        .range(0, std::nullopt);
  }

  explicit CatSeg(const StageInit& init)
      : device_(init.device),
        pool_train_(init.params.get_int("pooling_train")),
        pool_eval_(init.params.get_int("pooling_eval")),
        resolution_(init.params.get_int("clip_resolution")),
        divisibility_(init.params.get_int("size_divisibility")),
        layers_(init.params.get<std::vector<int64_t>>("guidance_layers")),
        sigmoid_(init.params.get_string("scores") == "sigmoid") {
    const Params& p = init.params;
    auto shared = models::shared_clip_model(models::clip_model_argument(init), at::Device("cpu"));
    clip_ = std::make_unique<CatSegClip>(*shared);
    const auto& g = clip_->geometry();
    if (layers_.size() != 2)
      throw std::invalid_argument("guidance_layers takes 2 block indices (decoder stages 1 and 2)");
    if (resolution_ % g.patch_size != 0)
      throw std::invalid_argument("clip_resolution " + std::to_string(resolution_) +
                                  " is not a multiple of the patch size " + std::to_string(g.patch_size));

    AggregatorConfig c;
    c.text_guidance_dim = g.embed_dim;
    c.appearance_guidance_dim = g.embed_dim;
    c.text_guidance_proj_dim = p.get_int("text_guidance_proj_dim");
    c.appearance_guidance_proj_dim = p.get_int("appearance_guidance_proj_dim");
    c.decoder_dims = p.get<std::vector<int64_t>>("decoder_dims");
    c.decoder_guidance_dims = p.get<std::vector<int64_t>>("decoder_guidance_dims");
    c.decoder_guidance_proj_dims = p.get<std::vector<int64_t>>("decoder_guidance_proj_dims");
    c.num_layers = p.get_int("num_layers");
    c.nheads = p.get_int("num_heads");
    c.hidden_dim = p.get_int("hidden_dim");
    c.feature_resolution = resolution_ / g.patch_size;
    c.window_size = p.get_int("window_size");
    c.prompt_channel = 1;
    c.pad_len = p.get_int("pad_len");
    c.class_chunk = p.get_int("class_chunk");
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(p.get_int("init_seed")));
    agg_ = std::make_unique<Aggregator>(c, gen);
    if (c.decoder_guidance_dims.size() == 2) {
      // CATSeg.__init__: ConvTranspose2d(width, 256, 2, 2), ConvTranspose2d(width, 128, 4, 4).
      const int64_t W = g.vision_width;
      for (int i = 0; i < 2; ++i) {
        const int64_t k = i == 0 ? 2 : 4, out = c.decoder_guidance_dims[i];
        const double bound = 1.0 / std::sqrt(static_cast<double>(out * k * k));
        up_[i].weight = at::empty({W, out, k, k}).uniform_(-bound, bound, gen);
        up_[i].bias = at::empty({out}).uniform_(-bound, bound, gen);
      }
    }

    // Class prompts (the text tower runs in the forward, as the authors' does).
    std::vector<std::string> names;
    for (const auto& entry : p.get<std::vector<std::string>>("class_names")) names.push_back(entry);
    std::vector<std::string> prompts;
    if (!names.empty()) {
      for (const auto& n : names) {
        const auto comma = n.find(", ");  // CATSegPredictor: classname.split(', ')[0]
        const std::string first = n.substr(0, comma);
        names_.push_back(first);
        prompts.push_back(apply_template(p.get_string("template"), first));
      }
    } else {
      for (const auto& syns : init.vocabulary) {
        names_.push_back(syns.front());
        prompts.push_back(apply_template(p.get_string("template"), syns.front()));
      }
    }
    if (!prompts.empty()) {
      const std::string vocab = models::resolve_bpe_vocab(
          p.get_string("bpe_vocab").empty() ? "" : init.resolve_path(p.get_string("bpe_vocab")));
      ids_ = models::ClipTokenizer(vocab).tokenize(prompts, g.context_length);
    }

    const std::string ckpt = p.get_string("checkpoint");
    if (!ckpt.empty()) load_checkpoint(init.resolve_path(ckpt));

    const at::Device device(init.device);
    clip_->to(device);
    agg_->to(device);
    for (auto& u : up_) {
      u.weight = u.weight.to(device);
      u.bias = u.bias.to(device);
    }
    if (ids_.defined()) ids_ = ids_.to(device);
  }

  void run(StageContext& ctx) override {
    if (!ids_.defined())
      throw std::invalid_argument(
          "no classes: set class_names (under `ovseg eval` and `ovseg train` the data set's "
          "classes are used when it is not set)");
    const at::Tensor& img = ctx.input<Image>("image").pixels;
    expect_shape(img, {-1, 3, -1, -1}, "node '" + ctx.node_id() + "' input 'image'");
    const bool training = ctx.training();
    // (x - clip_pixel_mean) / clip_pixel_std, then F.interpolate to the CLIP resolution.
    at::Tensor x = models::normalize_clip_pixels(img);
    if (divisibility_ > 1) {
      const int64_t d = divisibility_, ph = (d - x.size(2) % d) % d, pw = (d - x.size(3) % d) % d;
      if (ph || pw) x = at::constant_pad_nd(x, {0, pw, 0, ph}, 0.0);
    }
    x = at::upsample_bilinear2d(x, {resolution_, resolution_}, /*align_corners=*/false);
    const auto dense = clip_->encode_image_dense(x, layers_);
    const at::Tensor& res3 = dense.features;
    at::Tensor res4 = at::conv_transpose2d(dense.layers[0], up_[0].weight, up_[0].bias, {2, 2});
    at::Tensor res5 = at::conv_transpose2d(dense.layers[1], up_[1].weight, up_[1].bias, {4, 4});

    // get_text_embeds: computed in every training forward (the text tower
    // trains too), cached at inference.
    at::Tensor text;
    if (training || !text_cache_.defined()) {
      text = clip_->encode_text(ids_);
      text = text / text.norm(2, -1, true);
      if (!training) text_cache_ = text.detach();
    } else {
      text = text_cache_;
    }
    if (training) text_cache_ = at::Tensor();  // stale once the weights move
    const int64_t B = img.size(0);
    at::Tensor t = text.unsqueeze(1).unsqueeze(0).expand({B, text.size(0), 1, text.size(1)});
    at::Tensor out = agg_->forward(res3, t, {res3, res4, res5}, training ? pool_train_ : pool_eval_,
                                   layer_hook(training));
    if (!training && sigmoid_) out = at::sigmoid(out);
    ctx.set_output("logits", Logits{out, names_});
  }

  // CLIP: only the attention q / v projections of both towers train
  // (CLIP_FINETUNE "attention": q_proj / v_proj under "transformer"); the
  // aggregator and the two guidance upsamplers train in full.
  std::vector<NamedTensor> parameters() override {
    std::vector<NamedTensor> out;
    for (auto& [n, t] : clip_->tensors()) {
      const bool qv = n.find("transformer.") != std::string::npos &&
                      (n.find("q_proj_weight") != std::string::npos || n.find("v_proj_weight") != std::string::npos);
      out.push_back({"clip_model." + n, t, qv});
    }
    for (auto& [n, t] : agg_->tensors()) out.push_back({"transformer." + n, t, true});
    for (int i = 0; i < 2; ++i) {
      const std::string n = "upsample" + std::to_string(i + 1);
      out.push_back({n + ".weight", up_[i].weight, true});
      out.push_back({n + ".bias", up_[i].bias, true});
    }
    return out;
  }

  void set_training(bool training) override {
    if (training) text_cache_ = at::Tensor();
  }

 protected:
  // What runs before each aggregator layer (nothing in CAT-Seg).
  virtual LayerHook layer_hook(bool training) { return {}; }

  struct ConvT {
    at::Tensor weight, bias;
  };

  // A released CAT-Seg checkpoint: every tensor of parameters() at its
  // detectron2 name; the Swin attn_mask buffers are checked against the grid
  // they were made for; CLIP's logit_scale (unused by CAT-Seg) may be present.
  void load_checkpoint(const std::string& path) {
    const models::StateDict sd = models::load_state_dict(path);
    std::set<std::string> taken;
    at::NoGradGuard no_grad;
    for (auto& t : parameters()) {
      const std::string key = t.name.rfind("upsample", 0) == 0 ? t.name : "sem_seg_head.predictor." + t.name;
      auto it = sd.find(key);
      if (it == sd.end())
        throw std::invalid_argument("CAT-Seg checkpoint '" + path + "' has no tensor '" + key +
                                    "' (is it a CAT-Seg checkpoint of this configuration?)");
      if (!it->second.sizes().equals(t.tensor.sizes()))
        throw std::invalid_argument("CAT-Seg checkpoint '" + path + "': '" + key + "' is " + shape_string(it->second) +
                                    ", this node's '" + t.name + "' is " + shape_string(t.tensor) +
                                    " (set the node's parameters to the checkpoint's configuration)");
      t.tensor.copy_(it->second.to(t.tensor.scalar_type()));
      taken.insert(key);
    }
    for (const auto& [name, mask] : agg_->mask_buffers()) {
      const std::string key = "sem_seg_head.predictor.transformer." + name;
      auto it = sd.find(key);
      if (it != sd.end() && !it->second.sizes().equals(mask.sizes()))
        throw std::invalid_argument("CAT-Seg checkpoint '" + path + "': '" + key + "' is " + shape_string(it->second) +
                                    ", the Swin mask of a " + std::to_string(agg_->config().feature_resolution) +
                                    " grid with window " + std::to_string(agg_->effective_window()) + " is " +
                                    shape_string(mask) + " (set clip_resolution / window_size)");
      taken.insert(key);
    }
    for (const auto& [key, value] : sd) {
      if (taken.count(key) || key == "sem_seg_head.predictor.clip_model.logit_scale") continue;
      throw std::invalid_argument("CAT-Seg checkpoint '" + path + "': unexpected tensor '" + key + "' " +
                                  shape_string(value) + " (a configuration this plugin does not build)");
    }
  }

  std::string device_;
  int64_t pool_train_, pool_eval_, resolution_, divisibility_;
  std::vector<int64_t> layers_;
  bool sigmoid_;
  std::unique_ptr<CatSegClip> clip_;
  std::unique_ptr<Aggregator> agg_;
  ConvT up_[2];
  std::vector<std::string> names_;
  at::Tensor ids_;         // (K, context) prompt token ids
  at::Tensor text_cache_;  // (K, embed) at inference
};

}  // namespace ovseg::catseg
