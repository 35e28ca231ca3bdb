// chimera_head: Chimera-Seg's CLIP Semantic Head (CSH). The body's dense
// features enter CLIP's visual tower part-way: a trainable adapter maps them
// to the tower's width, a learnable CLS token is prepended, CLIP's last N
// residual blocks, ln_post and proj (frozen, run by ClipModel itself, not a
// copy of its code) map them into CLIP's joint space, where cosine_logits
// compares them with the text embeddings. N = 0 keeps only ln_post + proj
// ("projection only").
//
// While training it also emits the paper's two auxiliary losses
// (chimera_losses.hpp): Selective Global Distillation (`sgd`: the CSH
// features most similar to the frozen CLIP's image embedding of the same
// crop, pooled, distilled towards it; the kept fraction shrinks on a
// schedule) and the Semantic Alignment Module's (`sam`: class prototypes of
// the CSH features, from the crop's labels, aligned with the frozen text
// embeddings). Both read inputs only training wires (`image` for the teacher,
// `labels`, `text`); under eval the stage is the CSH alone.
//
// The paper has no public code and its public text is the abstract: the
// adapter's form, the CLS token and its initialisation, the selection
// schedule's shape and end point, the distillation's loss form and
// temperatures are parameters whose defaults are assumptions (README
// "Chimera-Seg").
#include <ovseg/sdk.hpp>

#include <ovseg/models/shared_clip.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x

#include <cmath>

#include "chimera_losses.hpp"

namespace {

using namespace ovseg;

class ChimeraHead : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("chimera_head", StageKind::Refinement,
                            "Chimera-Seg CLIP Semantic Head: adapter + CLIP's last N blocks, ln_post, proj (frozen); "
                            "selective global distillation and semantic alignment losses in training")
        .input("features", PortType::FeatureMap, "the body's dense features (B,C,h,w)")
        .input("image", PortType::Image,
               "the crop the features came from: the frozen CLIP's image embedding of it is SGD's teacher (read only "
               "while training)",
               /*optional=*/true)
        .input("text", PortType::TextEmbeddings,
               "class text embeddings (K,D) for the SAM loss (read only while training)",
               /*optional=*/true)
        .input(
            "labels", PortType::LabelMap,
            "the crop's labels in the text's channels for the SAM loss: wire input.labels (read only while training)",
            /*optional=*/true)
        .output("features", PortType::FeatureMap, "dense features in CLIP's joint space (B,embed,h,w), not normalised")
        .loss("sgd", "Selective Global Distillation: selected CSH features pooled, aligned with CLIP's image embedding")
        .loss("sam", "Semantic Alignment Module: per-class prototypes aligned with the text embeddings")
        .param("model", "openai:ViT-B/16", "CLIP checkpoint (zoo name or path): the tower the CSH's blocks come from")
        .param("partial_blocks", int64_t{1},
               "N: CLIP's last N residual blocks in the head (0 = ln_post + proj only; at most the tower's depth)")
        .range(0, std::nullopt)
        .param("body_channels", int64_t{128}, "channels C of the body's features (the adapter's input width)")
        .range(1, std::nullopt)
        .param("adapter", "linear",
               "trainable map from the body's channels to the tower's width: linear, or mlp (linear, GELU, linear)")
        .choices({"linear", "mlp"})
        .param("adapter_hidden", int64_t{0}, "hidden width of the mlp adapter (0: the tower's width)")
        .range(0, std::nullopt)
        .param("cls_token", true,
               "prepend a learnable CLS token to the head's blocks (initialised as CLIP's CLS token, alone, through "
               "the blocks before the head); ignored with partial_blocks = 0")
        .param("sgd", true,
               "emit the Selective Global Distillation loss while training (false: the ablation without it)")
        .param("sam", true, "emit the Semantic Alignment Module's loss while training (false: the ablation without it)")
        .param("sgd_schedule", "linear", "how SGD's kept fraction shrinks: linear, cosine, step, constant")
        .choices({"linear", "cosine", "step", "constant"})
        .param("sgd_start_ratio", 1.0, "fraction of a crop's features SGD keeps at the first step (1: all)")
        .range(0.0, 1.0)
        .param("sgd_end_ratio", 0.25, "fraction kept from sgd_steps on")
        .range(0.0, 1.0)
        .param("sgd_steps", int64_t{600},
               "training forward passes over which the fraction shrinks: the [train] steps x accumulate")
        .range(1, std::nullopt)
        .param("sgd_loss", "infonce", "form of the distillation: infonce (over the batch), cosine, l1")
        .choices({"infonce", "cosine", "l1"})
        .param("sgd_temperature", 0.07, "InfoNCE temperature of SGD")
        .range(1e-6, std::nullopt)
        .param("sam_temperature", 0.07, "temperature of the SAM loss's prototype-text softmax")
        .range(1e-6, std::nullopt)
        .param("init_seed", int64_t{0}, "seed of the adapter's initialisation")
        .range(0, std::nullopt);
  }

  explicit ChimeraHead(const StageInit& init)
      : model_(models::shared_clip_model(models::clip_model_argument(init), at::Device(init.device))),
        teacher_(model_),
        N_(init.params.get_int("partial_blocks")),
        schedule_(init.params.get_string("sgd_schedule")),
        start_(init.params.get_float("sgd_start_ratio")),
        end_(init.params.get_float("sgd_end_ratio")),
        sgd_steps_(init.params.get_int("sgd_steps")),
        sgd_form_(init.params.get_string("sgd_loss")),
        sgd_tau_(init.params.get_float("sgd_temperature")),
        sam_tau_(init.params.get_float("sam_temperature")),
        mlp_(init.params.get_string("adapter") == "mlp"),
        sgd_on_(init.params.get_bool("sgd")),
        sam_on_(init.params.get_bool("sam")),
        device_(init.device),
        channels_(init.params.get_int("body_channels")) {
    const auto& g = model_->geometry();
    build_adapter(g.vision_width, init.params.get_int("adapter_hidden"),
                  static_cast<uint64_t>(init.params.get_int("init_seed")));
    if (N_ > g.vision_layers)
      throw std::invalid_argument("partial_blocks = " + std::to_string(N_) + " but the CLIP tower '" +
                                  model_->source_name() + "' has " + std::to_string(g.vision_layers) + " blocks");
    if (N_ > 0 && init.params.get_bool("cls_token")) {
      // CLIP's CLS token as it enters block L-N when the image has no patches:
      // ln_pre(class_embedding + pos[0]) run alone through blocks [0, L-N).
      at::NoGradGuard no_grad;
      at::Tensor c = (model_->class_embedding + model_->vision_positional_embedding[0]).view({1, 1, -1});
      c = models::layer_norm(c, model_->ln_pre_w, model_->ln_pre_b);
      cls_ = model_->run_vision_blocks(c, 0, g.vision_layers - N_).clone();
    }
    sgd_step_ = at::zeros({1}, at::TensorOptions().dtype(at::kLong).device(device_));
  }

  void run(StageContext& ctx) override {
    const std::string where = "node '" + ctx.node_id() + "' ";
    const at::Tensor& f = ctx.input<FeatureMap>("features").features;
    expect_shape(f, {-1, channels_, -1, -1},
                 where + "input 'features' (body_channels = " + std::to_string(channels_) + ")");
    const auto& g = model_->geometry();
    const int64_t B = f.size(0), h = f.size(2), w = f.size(3), L = g.vision_layers;

    at::Tensor x = f.flatten(2).transpose(1, 2);  // (B,h*w,C)
    x = mlp_ ? at::linear(at::gelu(at::linear(x, a1_w_, a1_b_)), a2_w_, a2_b_) : at::linear(x, a1_w_, a1_b_);
    at::Tensor out;
    if (N_ > 0) {
      const bool cls = cls_.defined();
      if (cls) x = at::cat({cls_.expand({B, 1, x.size(2)}), x}, 1);
      at::Tensor y = model_->run_vision_blocks(x, L - N_, L);
      if (cls) y = y.narrow(1, 1, h * w);
      out = model_->project_tokens(y);  // ln_post, @ proj on the patch tokens, as the tower's dense_features
    } else {
      out = model_->project_tokens(x);
    }
    const at::Tensor dense = out.transpose(1, 2).reshape({B, out.size(2), h, w});
    ctx.set_output("features", FeatureMap{dense});

    if (!ctx.training()) return;
    if (sgd_on_ && ctx.has_input("image")) {
      const int64_t step = sgd_step_.item<int64_t>();
      const int64_t keep = chimera::sgd_keep_count(chimera::sgd_keep_ratio(schedule_, start_, end_, step, sgd_steps_),
                                                   h * w);
      ctx.add_loss("sgd", chimera::selective_global_distillation(dense, teacher_embedding(ctx, where), keep, sgd_form_,
                                                                 sgd_tau_));
      at::NoGradGuard no_grad;
      sgd_step_.add_(1);  // a buffer: saved with checkpoints, so a resumed run continues the schedule
    }
    if (sam_on_ && ctx.has_input("text") && ctx.has_input("labels")) {
      const TextEmbeddings& text = ctx.input<TextEmbeddings>("text");
      const at::Tensor& labels = ctx.input<LabelMap>("labels").labels;
      expect_shape(labels, {B, -1, -1}, where + "input 'labels' (the features' batch)");
      expect_shape(text.embeddings, {-1, g.embed_dim}, where + "input 'text' (CLIP's embedding width)");
      ctx.add_loss("sam", chimera::semantic_alignment(dense, text.embeddings, labels, sam_tau_));
    }
  }

  // Trainable: the adapter and the CLS token. Frozen: CLIP's last N blocks,
  // ln_post and proj under their OpenAI names. The first call gives this
  // node its own copy of the tower (as clip_image does), so a `trainable`
  // override never reaches the copy other nodes, and SGD's teacher, share.
  std::vector<NamedTensor> parameters() override {
    if (!own_copy_) {
      model_ = model_->clone();
      own_copy_ = true;
    }
    std::vector<NamedTensor> out;
    out.push_back({"adapter.0.weight", a1_w_, true});
    out.push_back({"adapter.0.bias", a1_b_, true});
    if (mlp_) {
      out.push_back({"adapter.2.weight", a2_w_, true});
      out.push_back({"adapter.2.bias", a2_b_, true});
    }
    if (cls_.defined()) out.push_back({"cls_token", cls_, true});
    const int64_t first = model_->geometry().vision_layers - N_;
    for (auto& [name, t] : model_->vision_tensors()) {
      const std::string blocks = "visual.transformer.resblocks.";
      bool take = name.rfind("visual.ln_post.", 0) == 0 || name == "visual.proj";
      if (name.rfind(blocks, 0) == 0) take = std::stoll(name.substr(blocks.size())) >= first;
      if (take) out.push_back({name, t, false});
    }
    return out;
  }

  std::vector<NamedTensor> buffers() override { return {{"sgd_step", sgd_step_, false}}; }

 private:
  // The adapter with PyTorch's nn.Linear initialisation, U(-1/sqrt(in),
  // 1/sqrt(in)) for weight and bias: linear C -> W, or linear C -> hidden,
  // GELU, linear hidden -> W.
  void build_adapter(int64_t width, int64_t hidden, uint64_t seed) {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    auto linear = [&](int64_t in, int64_t out, at::Tensor& wt, at::Tensor& b) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(in));
      wt = at::empty({out, in}).uniform_(-bound, bound, gen).to(device_);
      b = at::empty({out}).uniform_(-bound, bound, gen).to(device_);
    };
    if (mlp_) {
      const int64_t hid = hidden > 0 ? hidden : width;
      linear(channels_, hid, a1_w_, a1_b_);
      linear(hid, width, a2_w_, a2_b_);
    } else {
      linear(channels_, width, a1_w_, a1_b_);
    }
  }

  // SGD's teacher: the frozen tower's image embedding ln_post(CLS) @ proj of
  // the crop (CLIP's pixel statistics, zero-padded to whole patches), (B,D).
  at::Tensor teacher_embedding(StageContext& ctx, const std::string& where) const {
    const at::Tensor& img = ctx.input<Image>("image").pixels;
    expect_shape(img, {-1, 3, -1, -1}, where + "input 'image'");
    at::NoGradGuard no_grad;
    at::Tensor x = models::normalize_clip_pixels(img);
    const int64_t p = teacher_->geometry().patch_size;
    const int64_t ph = (p - x.size(2) % p) % p, pw = (p - x.size(3) % p) % p;
    if (ph || pw) x = at::constant_pad_nd(x, {0, pw, 0, ph}, 0.0);
    return teacher_->encode_image(x);
  }

  std::shared_ptr<models::ClipModel> model_;    // the CSH's blocks (own copy after parameters())
  std::shared_ptr<models::ClipModel> teacher_;  // the shared, frozen tower: SGD's teacher
  int64_t N_;
  std::string schedule_;
  double start_, end_;
  int64_t sgd_steps_;
  std::string sgd_form_;
  double sgd_tau_, sam_tau_;
  bool mlp_, sgd_on_, sam_on_;
  at::Device device_;
  int64_t channels_;
  bool own_copy_ = false;
  at::Tensor a1_w_, a1_b_, a2_w_, a2_b_, cls_, sgd_step_;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(ChimeraHead);
