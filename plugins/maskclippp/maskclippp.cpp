// maskclippp: MaskCLIP++'s mask classifier (HVision-NKU/MaskCLIPpp, the
// CLIPViT visual encoder with LinearPSM and ReweightCELoss; formulas in
// maskclippp_core.hpp). Given masks (proposals from any stage, or ground
// truth), every mask gets a token initialised as CLIP's CLS token that, from
// block `mask_prior_begin` on, attends only to the patches inside its mask
// (an additive bias, learnable per block and head); after ln_post @ proj it is
// compared with every (synonym, template) text embedding, the per-template
// cosines are mixed by the PSM (a learned linear map, or their mean for the
// frozen CLIP), the max over a class's synonyms is its score, and the label
// map is sum_q softmax(scores_q) * mask_q, as the authors' semantic inference.
// While training (masks carrying classes: gt_segments) it adds the
// class-balanced cross entropy "mask_ce".
#include <ovseg/sdk.hpp>

#include <ovseg/sdk/class_names.hpp>

#include <cmath>
#include <memory>
#include <mutex>

#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x

#include "maskclippp_checkpoint.hpp"
#include "maskclippp_core.hpp"
#include "ovseg/models/clip_tokenizer.hpp"
#include "ovseg/models/model_zoo.hpp"
#include "ovseg/models/shared_clip.hpp"

namespace {

using namespace ovseg;
namespace mc = ovseg::maskclippp;

std::vector<std::string> read_templates(const std::string& arg, const StageInit& init) {
  if (arg == "t14") return mc::t14_templates();
  if (arg == "t1" || arg == "single") return {"a photo of a {}."};
  std::vector<std::string> out;
  for (const auto& line : read_class_name_file(init.resolve_path(arg))) out.push_back(line.front());
  if (out.empty()) throw std::invalid_argument("template file '" + arg + "' holds no templates");
  return out;
}

class MaskClipPP : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor(
               "maskclippp", StageKind::Fusion,
               "MaskCLIP++: CLIP classifies masks (mask-attention tokens, per-template PSM), merged into class maps")
        .input("image", PortType::Image, "image (B,3,H,W) RGB in [0,1]")
        .input("masks", PortType::Masks,
               "masks to classify (B,N,H,W) at the image size, > 0 inside: SAM proposals, or gt_segments (whose "
               "classes make the training targets)")
        .output("logits", PortType::Logits, "(B,K,H,W) sum over masks of softmax(class scores) x mask")
        .loss("mask_ce", "class-balanced cross entropy of the masks' class scores (ReweightCELoss)")
        .param("model", "openai:ViT-B/16", "CLIP checkpoint (zoo name or path)")
        .param("checkpoint", "",
               "a released MaskCLIP++ checkpoint ({'model': {visual_encoder.proxy.*, visual_encoder.mask_logit_scale, "
               "psm.*, text_encoder.*}}), loaded over `model`")
        .param("class_names", std::vector<std::string>{}, "classes; synonyms comma-separated in one entry")
        .param("names_file", "", "class-name file (neither: the evaluated / trained data set's classes)")
        .param("templates", "t14",
               "t14 (the authors' 14 FC-CLIP templates), t1 / single, or a file, one {} template per line")
        .param("bpe_vocab", "", "CLIP BPE vocabulary file (default: $OVSEG_CLIP_BPE, then the model cache)")
        .param("pooling", "mask_attention",
               "mask_attention: the code's mask tokens; mask_average: mean of the dense features inside each mask "
               "(an ablation of ours, not the paper's)")
        .choices({"mask_attention", "mask_average"})
        .param("mask_prior_begin", 0,
               "first block (1-based) with mask tokens, the configs' MASK_PRIOR_BEG (EVA ViT-B/16: 10 of 12); 0 = the "
               "last block")
        .range(0, std::nullopt)
        .param("mask_logit_scale", -5.0,
               "initial log-scale of the soft-mask bias, per block and head (ViT configs: -5)")
        .param("learnable_mask_logit_scale", true, "the mask bias scale trains (ViT configs: true)")
        .param("downsample", "bilinear",
               "masks to the patch grid: nearest, bilinear, bicubic, avg, max (configs: bilinear)")
        .choices({"nearest", "bilinear", "bicubic", "avg", "max"})
        .param("mask_threshold", -1.0,
               "a downsampled mask covers a patch above this value; < 0: half its maximum (ViT configs: "
               "DOWN_MASK_THRESH None)")
        .param("psm", "linear", "per-template mixing: linear (LinearPSM, trained) or mean (DummyPSM: the frozen CLIP)")
        .choices({"linear", "mean"})
        .param("corr_width", 768, "LinearPSM's hidden width (CORR_WIDTH; EVA ViT-B/16 config: 768)")
        .range(1, std::nullopt)
        .param("use_logit_scale", true, "cosines times min(CLIP's logit scale, 100) (USE_LOGIT_SCALE)")
        .param("temperature", 1.0, "cross-entropy temperature (criterion TEMPERATURE)")
        .range(1e-6, std::nullopt)
        .param("balance_classes", true, "weigh masks per image and class (BALANCE_CLS)")
        .param("ignore_empty", true, "drop masks that vanish on the patch grid from the loss (IGNORE_EMPTY)")
        .param("mask_input", "binary", "how mask logits become masks: binary (> 0) or sigmoid")
        .choices({"binary", "sigmoid"})
        .param("uncovered", "none",
               "pixels no mask covers: none (the code: they score 0 everywhere), complement (one more mask) or grid "
               "(the uncovered part of each grid cell is a mask): our assumptions for proposals that do not tile "
               "the image, e.g. SAM's, which rarely propose stuff")
        .choices({"none", "complement", "grid"})
        .param("uncovered_cells", 4,
               "uncovered = grid: cells per image side (the uncovered pixels of each cell are one mask)")
        .range(1, 64)
        .param("init_seed", 0, "seed of the PSM's initialisation")
        .range(0, std::nullopt);
  }

  explicit MaskClipPP(const StageInit& init) : p_(init.params), device_(init.device) {
    model_ = models::shared_clip_model(models::clip_model_argument(init), device_);
    const auto& g = model_->geometry();
    opts_.mask_prior_begin = p_.get_int("mask_prior_begin");
    opts_.downsample = p_.get_string("downsample");
    opts_.threshold = p_.get_float("mask_threshold");
    opts_.pooling = p_.get_string("pooling");
    const int64_t begin = opts_.mask_prior_begin == 0 ? g.vision_layers : opts_.mask_prior_begin;
    if (begin > g.vision_layers)
      throw std::invalid_argument("mask_prior_begin " + std::to_string(begin) + " but the model has " +
                                  std::to_string(g.vision_layers) + " blocks");
    mask_logit_scale_ = at::full({g.vision_layers - begin + 1, g.vision_heads}, p_.get_float("mask_logit_scale"));
    linear_ = p_.get_string("psm") == "linear";

    // Text: every synonym in every template, each embedding normalised
    // (Ka,T,D), as the authors keep them (no template mean).
    std::vector<std::vector<std::string>> synonyms;
    for (const auto& e : p_.get<std::vector<std::string>>("class_names")) synonyms.push_back(split_synonyms(e));
    if (!p_.get_string("names_file").empty())
      synonyms = read_class_name_file(init.resolve_path(p_.get_string("names_file")));
    if (synonyms.empty()) synonyms = init.vocabulary;
    const std::vector<std::string> templates = read_templates(p_.get_string("templates"), init);
    T_ = static_cast<int64_t>(templates.size());
    for (const auto& syns : synonyms) {
      if (syns.empty()) throw std::invalid_argument("empty class name");
      names_.push_back(syns.front());
      counts_.push_back(static_cast<int64_t>(syns.size()));
      for (const auto& s : syns)
        for (const auto& t : templates) {
          const auto at = t.find("{}");
          texts_.push_back(at == std::string::npos ? t : t.substr(0, at) + s + t.substr(at + 2));
        }
    }
    bpe_ = p_.get_string("bpe_vocab").empty() ? "" : init.resolve_path(p_.get_string("bpe_vocab"));
    const int64_t T = T_;

    // LinearPSM(T -> corr_width -> 1), nn.Linear's default initialisation.
    const int64_t W = p_.get_int("corr_width");
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(p_.get_int("init_seed")));
    auto uniform = [&](std::vector<int64_t> shape, int64_t fan_in) {
      const double b = 1.0 / std::sqrt(static_cast<double>(fan_in));
      return at::empty(shape).uniform_(-b, b, gen);
    };
    w_in_ = uniform({W, T}, T), b_in_ = uniform({W}, T), w_out_ = uniform({1, W}, W), b_out_ = uniform({1}, W);
    for (at::Tensor* t : {&mask_logit_scale_, &w_in_, &b_in_, &w_out_, &b_out_}) *t = t->to(device_);

    if (const std::string ckpt = p_.get_string("checkpoint"); !ckpt.empty()) {
      own_model();
      mc::ReleasedTensors r{model_, &mask_logit_scale_, &w_in_, &b_in_, &w_out_, &b_out_};
      mc::load_released_checkpoint(init.resolve_path(ckpt), r);
    }
    if (!texts_.empty()) text_ = encode_text();  // after a checkpoint: its text tower, if it holds one
  }

  void run(StageContext& ctx) override {
    if (!text_.defined())
      throw std::invalid_argument("no classes: set class_names or names_file (eval and train use the data set's)");
    const at::Tensor& img = ctx.input<Image>("image").pixels;
    const Masks& in = ctx.input<Masks>("masks");
    const std::string where = "node '" + ctx.node_id() + "' input ";
    expect_shape(img, {-1, 3, -1, -1}, where + "'image'");
    expect_shape(in.logits, {img.size(0), -1, img.size(2), img.size(3)}, where + "'masks' (at the image size)");
    const bool training = ctx.training();
    if (training && !in.classes.defined())
      throw std::invalid_argument(where +
                                  "'masks' carries no classes: training needs ground-truth segments "
                                  "(wire gt_segments on input.instances and input.labels)");
    const int64_t B = img.size(0), H = img.size(2), W = img.size(3), K = static_cast<int64_t>(names_.size());
    const int64_t p = model_->geometry().patch_size, ph = (p - H % p) % p, pw = (p - W % p) % p;
    at::Tensor x = at::constant_pad_nd(models::normalize_clip_pixels(img), {0, pw, 0, ph}, 0.0);

    std::vector<at::Tensor> masks(B), padded(B), labels(B);
    for (int64_t b = 0; b < B; ++b) {
      at::Tensor lg = in.logits[b];
      at::Tensor keep = (lg > 0).flatten(1).any(1);  // padding masks (all outside) are not masks
      if (in.classes.defined()) {
        const at::Tensor c = in.classes[b].to(lg.device());
        if (training) keep = keep & (c >= 0) & (c < K);  // ignored (e.g. unseen) segments train nothing
        labels[b] = c.index({keep});
      }
      lg = lg.index({keep});
      at::Tensor mk = p_.get_string("mask_input") == "binary" ? (lg > 0).to(at::kFloat) : at::sigmoid(lg);
      if (p_.get_string("uncovered") != "none" && !training) mk = at::cat({mk, uncovered_masks(mk, H, W)}, 0);
      masks[b] = mk;
      padded[b] = at::constant_pad_nd(mk, {0, pw, 0, ph}, 0.0);
    }

    const mc::MaskEmbeddings e = mc::encode_masks(*model_, model_->vision_positional_embedding, x, padded,
                                                  mask_logit_scale_, opts_);
    const double scale = p_.get_bool("use_logit_scale") ? static_cast<double>(model_->logit_scale) : 0.0;
    auto psm = [&](const at::Tensor& corrs) {
      return linear_ ? mc::linear_psm(corrs, w_in_, b_in_, w_out_, b_out_) : mc::mean_psm(corrs);
    };

    if (training) {
      // One synonym per class per step (the authors' _sample_one_synonym), drawn
      // from LibTorch's generator, which the trainer seeds per step.
      std::vector<int64_t> pick;
      int64_t begin = 0;
      for (int64_t n : counts_) {
        pick.push_back(begin + (n > 1 ? at::randint(n, {1}, at::kLong).item<int64_t>() : 0));
        begin += n;
      }
      const at::Tensor text = text_.index_select(0, at::tensor(pick, at::kLong).to(text_.device()));
      std::vector<at::Tensor> b_of;
      for (int64_t b = 0; b < B; ++b) b_of.push_back(at::full({masks[b].size(0)}, b, at::kLong));
      const at::Tensor scores = psm(mc::correlations(at::cat(e.embeddings, 0), text, scale));  // (N,K)
      at::Tensor loss = mc::reweighted_ce(scores, at::cat(labels, 0), at::cat(b_of, 0).to(scores.device()),
                                          at::cat(e.areas, 0), p_.get_float("temperature"),
                                          p_.get_bool("balance_classes"), p_.get_bool("ignore_empty"));
      // No mask in the batch: a zero that still reaches every trainable
      // tensor (the authors' sum(p) * 0), so the step is a valid no-op.
      if (!loss.requires_grad())
        for (auto& t : parameters())
          if (t.tensor.requires_grad()) loss = loss + t.tensor.sum() * 0;
      ctx.add_loss("mask_ce", loss);
    }

    std::vector<at::Tensor> maps;
    for (int64_t b = 0; b < B; ++b) {
      if (masks[b].size(0) == 0) {
        maps.push_back(at::zeros({K, H, W}, img.options()));
        continue;
      }
      at::Tensor scores = mc::max_over_synonyms(psm(mc::correlations(e.embeddings[b], text_, scale)), counts_);
      maps.push_back(mc::semantic_merge(scores, masks[b]));
    }
    ctx.set_output("logits", Logits{at::stack(maps, 0), names_});
  }

  // Masks for the pixels no mask covers (1 - the clamped sum of the masks):
  // one mask ("complement"), or its parts in an n x n grid of cells ("grid").
  at::Tensor uncovered_masks(const at::Tensor& masks, int64_t H, int64_t W) const {
    const at::Tensor rest = masks.size(0) ? 1 - masks.sum(0).clamp(0, 1) : at::ones({H, W}, masks.options());
    std::vector<at::Tensor> out;
    const int64_t n = p_.get_string("uncovered") == "grid" ? p_.get_int("uncovered_cells") : 1;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        const int64_t y0 = i * H / n, y1 = (i + 1) * H / n, x0 = j * W / n, x1 = (j + 1) * W / n;
        at::Tensor cell = at::zeros_like(rest);
        cell.slice(0, y0, y1).slice(1, x0, x1).copy_(rest.slice(0, y0, y1).slice(1, x0, x1));
        if (cell.sum().item<double>() > 0) out.push_back(cell);
      }
    return out.empty() ? at::zeros({0, H, W}, masks.options()) : at::stack(out);
  }

  std::vector<NamedTensor> parameters() override {
    own_model();
    std::vector<NamedTensor> out;
    // The authors' FINETUNE_TYPE "attention" for an OpenAI-layout ViT
    // (CLIPViT._freeze): the packed attention in-projections (q, k, v weights
    // and biases) and the positional embedding train; the rest is frozen.
    for (auto& [name, t] : model_->vision_tensors()) {
      const bool attn = name.find("attn") != std::string::npos && name.find("in_proj") != std::string::npos;
      out.push_back({name, t, attn || name.find("positional_embedding") != std::string::npos});
    }
    out.push_back({"mask_logit_scale", mask_logit_scale_, p_.get_bool("learnable_mask_logit_scale")});
    out.push_back({"psm.corr_proj_in.0.weight", w_in_, linear_});
    out.push_back({"psm.corr_proj_in.0.bias", b_in_, linear_});
    out.push_back({"psm.corr_proj_out.0.weight", w_out_, linear_});
    out.push_back({"psm.corr_proj_out.0.bias", b_out_, linear_});
    return out;
  }

 private:
  // A node that trains or loads tensors works on its own copy of the CLIP.
  void own_model() {
    if (own_) return;
    model_ = model_->clone();
    own_ = true;
  }

  at::Tensor encode_text() {
    at::NoGradGuard no_grad;
    const int64_t T = T_;
    const at::Tensor ids = models::ClipTokenizer(models::resolve_bpe_vocab(bpe_))
                               .tokenize(texts_, model_->geometry().context_length)
                               .to(model_->device());
    std::vector<at::Tensor> chunks;
    for (int64_t i = 0; i < ids.size(0); i += 256)
      chunks.push_back(l2_normalize(model_->encode_text(ids.narrow(0, i, std::min<int64_t>(256, ids.size(0) - i)))));
    const at::Tensor all = at::cat(chunks, 0);
    return all.reshape({all.size(0) / T, T, all.size(1)}).contiguous();  // (Ka,T,D)
  }

  Params p_;
  at::Device device_;
  std::shared_ptr<models::ClipModel> model_;
  bool own_ = false, linear_ = true;
  mc::EncodeOptions opts_;
  at::Tensor mask_logit_scale_, w_in_, b_in_, w_out_, b_out_;
  at::Tensor text_;                 // (Ka,T,D) unit embeddings
  std::vector<std::string> names_;  // one per class
  std::vector<int64_t> counts_;     // synonyms per class
  std::vector<std::string> texts_;  // every synonym in every template, class by class
  std::string bpe_;
  int64_t T_ = 1;  // templates
};

}  // namespace

OVSEG_REGISTER_PLUGIN(MaskClipPP);
