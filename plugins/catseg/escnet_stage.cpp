// escnet: ESC-Net ("Effective SAM Combination for Open-Vocabulary Semantic
// Segmentation", Lee et al., CVPR 2025; arXiv 2411.14723; no public code) on
// CAT-Seg's model, which it builds on: every ESC block is
//   pseudo-prompt generator (from the image-text correlation)
//   -> SAM's prompt encoder + mask-decoder two-way blocks per class on the
//      correlation embedding (escnet_sam_block)
//   -> vision-language fusion: CAT-Seg's aggregator layer (Swin blocks guided
//      by CLIP features, linear attention across classes guided by text),
// then CAT-Seg's upsampling decoder. The number of ESC blocks is the
// aggregator's num_layers (paper: 4). The SAM blocks start from a SAM
// checkpoint (`sam_block = "pretrained"`), at random ("random") or are left
// out ("none": CAT-Seg itself), the paper's ablation. Every value the paper
// does not state is a parameter; its default is ours (README "ESC-Net").
#include "catseg_stage.hpp"
#include "escnet_sam_block.hpp"

namespace ovseg::catseg {

class EscNet : public CatSeg {
 public:
  static PluginDescriptor describe() {
    return CatSeg::with_params(
               PluginDescriptor(
                   "escnet", StageKind::Fusion,
                   "ESC-Net: correlation pseudo prompts into SAM decoder blocks inside CAT-Seg's aggregator"))
        .param("sam_block", "pretrained",
               "SAM two-way blocks per ESC block: pretrained (from sam_model), random, none (CAT-Seg)")
        .choices({"pretrained", "random", "none"})
        .param("sam_model", "", "an official-layout SAM checkpoint: its width, MLP width and, if pretrained, weights")
        .param("sam_layers", 2, "two-way blocks per ESC block (SAM's decoder has 2)")
        .range(1, 16)
        .param("prompts", "both", "pseudo prompts given to SAM: both (points + mask), points, mask")
        .choices({"both", "points", "mask"})
        .param("regions", 2, "k of the per-class k-means on above-threshold cells (assumption)")
        .range(1, 64)
        .param("prompt_threshold", 0.5, "threshold on the softmax-over-classes probability (assumption)")
        .range(0.0, 1.0)
        .param("prompt_temperature", 0.01,
               "softmax(correlation / T) over classes; 0.01 = CLIP's logit scale 100 (assumption)")
        .range(1e-6, std::nullopt)
        .param("mask_logit", 4.0, "mask prompt logits: +v inside the class's regions, -v outside (assumption)")
        .range(0.0, std::nullopt);
  }

  explicit EscNet(const StageInit& init) : CatSeg(init) {
    const Params& p = init.params;
    mode_ = p.get_string("sam_block");
    if (mode_ == "none") return;
    EscOptions o;
    o.threshold = p.get_float("prompt_threshold");
    o.temperature = p.get_float("prompt_temperature");
    o.regions = p.get_int("regions");
    o.sam_layers = p.get_int("sam_layers");
    o.mask_logit = p.get_float("mask_logit");
    o.use_points = p.get_string("prompts") != "mask";
    o.use_masks = p.get_string("prompts") != "points";
    options_ = o;
    const std::string sam = p.get_string("sam_model");
    if (sam.empty()) throw std::invalid_argument("sam_block = \"" + mode_ + "\" needs sam_model (its geometry)");
    const std::string path = init.resolve_path(sam);
    const models::StateDict sd = models::load_state_dict(path);
    auto shape = [&](const std::string& key) {
      auto it = sd.find(key);
      if (it == sd.end()) throw std::invalid_argument("SAM checkpoint '" + path + "' has no tensor '" + key + "'");
      return it->second.sizes().vec();
    };
    const int64_t dim = shape("mask_decoder.iou_token.weight")[1];
    const int64_t mlp = shape("mask_decoder.transformer.layers.0.mlp.lin1.weight")[0];
    const int64_t tokens = shape("mask_decoder.mask_tokens.weight")[0];
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(p.get_int("init_seed")) + 1);
    const std::map<std::string, at::Tensor> weights(sd.begin(), sd.end());
    for (int64_t i = 0; i < agg_->config().num_layers; ++i) {
      blocks_.push_back(std::make_unique<SamPromptBlock>(agg_->config().hidden_dim, dim, mlp, tokens, o, gen));
      if (mode_ == "pretrained") blocks_.back()->load_sam(weights, path);
      blocks_.back()->to(at::Device(init.device));
    }
  }

  std::vector<NamedTensor> parameters() override {
    std::vector<NamedTensor> out = CatSeg::parameters();
    for (size_t i = 0; i < blocks_.size(); ++i)
      for (auto& [n, t] : blocks_[i]->tensors()) out.push_back({"esc." + std::to_string(i) + "." + n, t, true});
    return out;
  }

 protected:
  LayerHook layer_hook(bool training) override {
    if (blocks_.empty()) return {};
    auto prompts = std::make_shared<PseudoPrompts>();
    return [this, prompts](int64_t layer, const at::Tensor& x, const at::Tensor& corr) {
      // Prompts come from the image-text correlation (the cost volume), once
      // per forward (assumption: the paper's figure feeds every block from it).
      if (!prompts->points.defined()) *prompts = pseudo_prompts(corr, options_);
      // Classes run through the SAM block independently: in chunks of
      // class_chunk classes (x's dim 2; prompt rows b * T + t).
      const SamPromptBlock& block = *blocks_[static_cast<size_t>(layer)];
      const int64_t B = x.size(0), T = x.size(2);
      return Aggregator::per_class_chunks(
          x, 2, 2, agg_->config().class_chunk, [&](const at::Tensor& xc, int64_t t0, int64_t n) {
            if (n == T) return block.forward(xc, *prompts);
            const at::Tensor rows = (at::arange(B, at::TensorOptions(at::kLong).device(x.device())) * T).view({B, 1}) +
                                    at::arange(t0, t0 + n, at::TensorOptions(at::kLong).device(x.device()))
                                        .view({1, n});
            const at::Tensor r = rows.flatten();
            PseudoPrompts sub;
            sub.points = prompts->points.index_select(0, r.to(prompts->points.device()));
            sub.labels = prompts->labels.index_select(0, r.to(prompts->labels.device()));
            sub.masks = prompts->masks.index_select(0, r.to(prompts->masks.device()));
            return block.forward(xc, sub);
          });
    };
  }

 private:
  std::string mode_;
  EscOptions options_;
  std::vector<std::unique_ptr<SamPromptBlock>> blocks_;
};

}  // namespace ovseg::catseg

OVSEG_REGISTER_PLUGIN(ovseg::catseg::EscNet);
