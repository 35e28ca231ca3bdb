// schnet: SCHNet (Liu, Wang, Jin, Hwang, Chung, "SCHNet: SAM Marries CLIP for
// Human Parsing", arXiv 2503.22237; no public code). SAM's image encoder
// parses the image; between its blocks (SamModel's block hook)
//   - the Semantic-Refinement Module (SRM) injects multi-level CLIP features
//     (the outputs of chosen CLIP blocks) into chosen SAM blocks' outputs,
//     with a fusion operator that is a parameter (schnet_modules.hpp);
//   - the Fine-tuning Module (FTM) adds learnable tokens per block read
//     through an MLP shared by all blocks (Rein-style);
// chosen SAM tensors fine-tune (partial fine-tuning, `sam_trainable`); a
// parsing decoder turns SAM's neck output into per-part logits, brought back
// to the image as SAM's postprocess_masks does; flip test-time augmentation
// averages with the mirrored image's logits, left/right channels exchanged.
// CLIP is frozen and shared; SAM is this node's own copy (it may train).
// Every choice the paper leaves open is a parameter whose default is an
// assumption, listed in the README section "SCHNet".
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x
#include <ovseg/sdk.hpp>
#include <ovseg/sdk/left_right_pairs.hpp>

#include <algorithm>
#include <cmath>
#include <set>

#include "ovseg/models/clip_model.hpp"
#include "ovseg/models/model_zoo.hpp"
#include "ovseg/models/sam_model.hpp"
#include "ovseg/models/sam_predictor.hpp"
#include "ovseg/models/shared_clip.hpp"
#include "ovseg/sdk/glob_match.hpp"
#include "schnet_modules.hpp"

namespace {

using namespace ovseg;
using schnet::Fusion;

std::string list_string(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return "[" + s + "]";
}

class Schnet : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("schnet", StageKind::Fusion,
                            "SCHNet human parser: SAM encoder + CLIP features injected between its blocks (SRM), "
                            "learnable tokens with a shared MLP (FTM), parsing decoder, flip TTA")
        .input("image", PortType::Image, "images (B,3,H,W) RGB in [0,1]")
        .input("text", PortType::TextEmbeddings,
               "part-name text embeddings (K,D): the classifier when classifier = \"text\"; else only their names "
               "are checked against the classes",
               /*optional=*/true)
        .output("logits", PortType::Logits, "per-part logits (B,K,H,W) at the image size")
        .param("sam_model", "sam:vit_b",
               "SAM checkpoint (zoo name or file; official layout): this node's own copy, partly fine-tuned")
        .param("clip_model", "openai:ViT-B/16", "CLIP checkpoint for the SRM's features (frozen, shared)")
        .param("clip_size", 0,
               "side the image is resized to for CLIP (0 = CLIP's own input resolution). ASSUMPTION: the paper's "
               "CLIP input size is not public")
        .range(0, 4096)
        .param("srm", true, "Semantic-Refinement Module on (false: the 'without SRM' ablation)")
        .param("srm_sam_blocks", std::vector<int64_t>{},
               "SAM encoder blocks whose outputs receive CLIP features ([] = SAM's global-attention blocks, the "
               "ends of its 4 stages: ViT-B 2,5,8,11). ASSUMPTION after the public summary 'multi-level CLIP "
               "semantics into SAM across all stages'")
        .range(0, std::nullopt)
        .param("srm_clip_blocks", std::vector<int64_t>{},
               "CLIP blocks whose outputs are injected, one per SAM block ([] = the CLIP block at the same relative "
               "depth: round((b+1) * L_clip / L_sam) - 1; ViT-B/16 with SAM ViT-B: 2,5,8,11). ASSUMPTION")
        .range(0, std::nullopt)
        .param("srm_fusion", "add",
               "how CLIP features enter SAM's tokens: add (x + W LN(f)), gated (x + tanh(g) W LN(f)), "
               "cross_attention (SAM tokens attend to CLIP tokens). ASSUMPTION: 'add' (the paper's operator is "
               "not public)")
        .choices({"add", "gated", "cross_attention"})
        .param("ftm", true, "Fine-tuning Module on (false: the 'without FTM' ablation)")
        .param("ftm_blocks", std::vector<int64_t>{}, "SAM blocks followed by the FTM ([] = every block, as Rein)")
        .range(0, std::nullopt)
        .param("ftm_tokens", 16, "learnable tokens per block m. ASSUMPTION (Rein uses 100 at ViT-L; 16 here)")
        .range(1, 4096)
        .param("sam_trainable", std::vector<std::string>{"image_encoder.neck.*"},
               "SAM tensors (official names, `*` spans dots) that fine-tune with SCHNet's modules; [] freezes SAM. "
               "ASSUMPTION: the neck (the paper fine-tunes 'part' of SAM, which part is not public)")
        .param("decoder_widths", std::vector<int64_t>{},
               "channels after the decoder's two 2x transposed convolutions ([] = SAM's embed_dim / 2 and / 4). "
               "ASSUMPTION")
        .range(1, std::nullopt)
        .param("detail_channels", 0,
               "channels of the decoder's detail branch: low-level features of SAM's input pixels (one strided "
               "conv) fused with the upscaled neck features by a 3x3 conv before the classifier, as CE2P's "
               "high-resolution embedding module (0 = off). ASSUMPTION")
        .range(0, 4096)
        .param("classifier", "linear",
               "per-part classifier: linear (1x1 conv to K) or text (cosine to the 'text' input's part-name "
               "embeddings times logit_scale). ASSUMPTION: linear")
        .choices({"linear", "text"})
        .param("logit_scale", 40.0, "scale of the cosine logits with classifier = text")
        .range(0.0, std::nullopt)
        .param("class_names", std::vector<std::string>{},
               "the parts, in label order ([] = the data set's classes, as eval / train give them)")
        .param("flip_tta", false,
               "test-time flip augmentation: average the logits with those of the mirrored image, flipped back with "
               "left/right channels exchanged (never while training)")
        .param("flip_pairs", std::vector<int64_t>{},
               "class-index pairs a, b, c, d, ... exchanged by flip_tta ([] = classes named 'left X' / 'right X', "
               "as [train.augment] flip_swap pairs them)")
        .range(0, std::nullopt)
        .param("init_seed", 0, "seed of the modules' initialisation")
        .range(0, std::nullopt);
  }

  explicit Schnet(const StageInit& init) : device_(init.device) {
    const Params& p = init.params;
    // Classes.
    names_ = p.get<std::vector<std::string>>("class_names");
    if (names_.empty())
      for (const auto& c : init.vocabulary) names_.push_back(c.empty() ? std::string() : c.front());
    if (names_.empty())
      throw std::invalid_argument("no classes: set 'class_names' (ovseg eval / train give the data set's)");
    const int64_t K = static_cast<int64_t>(names_.size());

    // SAM: this node's own copy, so fine-tuning touches no other node's model.
    const std::string sam_file = models::resolve_model_file(p.get_string("sam_model"), init.pipeline_dir);
    {
      models::StateDict sd = models::SamModel::load(sam_file)->state_dict();
      for (auto& kv : sd) kv.second = kv.second.clone();
      sam_ = models::SamModel::from_state_dict(sd, sam_file);
    }
    sam_->to(device_);
    const models::SamGeometry& g = sam_->geometry();
    if (g.encoder != models::SamEncoderType::ViT)
      throw std::invalid_argument("sam_model '" + sam_file + "' has a TinyViT encoder; SCHNet needs SAM's ViT encoder");
    const int64_t sam_width = g.vit.width, depth = g.vit.depth;
    for (const auto& pat : p.get<std::vector<std::string>>("sam_trainable")) sam_trainable_.push_back(pat);

    at::Generator gen = schnet::make_generator(static_cast<uint64_t>(p.get_int("init_seed")));

    // SRM.
    if (p.get_bool("srm")) {
      clip_ = models::shared_clip_model(models::clip_model_argument(init, "clip_model"), device_);
      const auto& cg = clip_->geometry();
      clip_size_ = p.get_int("clip_size") > 0 ? p.get_int("clip_size") : cg.image_resolution;
      if (clip_size_ % cg.patch_size != 0)
        throw std::invalid_argument("clip_size " + std::to_string(clip_size_) + " is not a multiple of CLIP's patch " +
                                    std::to_string(cg.patch_size));
      std::vector<int64_t> sam_blocks = p.get<std::vector<int64_t>>("srm_sam_blocks");
      if (sam_blocks.empty()) sam_blocks = g.vit.global_blocks;
      std::vector<int64_t> clip_blocks = p.get<std::vector<int64_t>>("srm_clip_blocks");
      if (clip_blocks.empty())
        for (int64_t b : sam_blocks)
          clip_blocks.push_back(std::max<int64_t>(
              0, std::llround(static_cast<double>((b + 1) * cg.vision_layers) / static_cast<double>(depth)) - 1));
      if (clip_blocks.size() != sam_blocks.size())
        throw std::invalid_argument("srm_clip_blocks " + list_string(clip_blocks) + " and srm_sam_blocks " +
                                    list_string(sam_blocks) + " differ in length: one CLIP block per SAM block");
      const Fusion fusion = schnet::parse_fusion(p.get_string("srm_fusion"));
      for (size_t j = 0; j < sam_blocks.size(); ++j) {
        if (sam_blocks[j] >= depth)
          throw std::invalid_argument("srm_sam_blocks lists block " + std::to_string(sam_blocks[j]) + ", but " +
                                      sam_file + " has blocks 0.." + std::to_string(depth - 1));
        if (clip_blocks[j] >= cg.vision_layers)
          throw std::invalid_argument("srm_clip_blocks lists block " + std::to_string(clip_blocks[j]) +
                                      ", but the CLIP model has blocks 0.." + std::to_string(cg.vision_layers - 1));
        schnet::SrmInjection s;
        s.sam_block = sam_blocks[j];
        s.clip_block = clip_blocks[j];
        s.fusion = fusion;
        s.init(cg.vision_width, sam_width, gen);
        srm_.push_back(std::move(s));
      }
    }
    // FTM.
    if (p.get_bool("ftm")) {
      std::vector<int64_t> blocks = p.get<std::vector<int64_t>>("ftm_blocks");
      if (blocks.empty())
        for (int64_t i = 0; i < depth; ++i) blocks.push_back(i);
      for (int64_t b : blocks)
        if (b >= depth)
          throw std::invalid_argument("ftm_blocks lists block " + std::to_string(b) + ", but " + sam_file +
                                      " has blocks 0.." + std::to_string(depth - 1));
      ftm_.init(blocks, p.get_int("ftm_tokens"), sam_width, gen);
      ftm_on_ = true;
    }
    // Decoder.
    std::vector<int64_t> widths = p.get<std::vector<int64_t>>("decoder_widths");
    if (widths.empty()) widths = {std::max<int64_t>(1, g.embed_dim / 2), std::max<int64_t>(1, g.embed_dim / 4)};
    if (widths.size() != 2)
      throw std::invalid_argument("decoder_widths needs 2 values (after each 2x upsampling), got " +
                                  list_string(widths));
    const bool text = p.get_string("classifier") == "text";
    text_dim_ = text ? (clip_ ? clip_->geometry().embed_dim : 0) : 0;
    decoder_text_ = text;
    decoder_.logit_scale = p.get_float("logit_scale");
    // The text classifier's width is the text embeddings'; CLIP's embed dim
    // when the SRM loaded CLIP, else fixed at the first run's text input.
    // Its own generator, so SCHNet and its ablations (without SRM / FTM) start
    // from the same decoder for one init_seed.
    at::Generator decoder_gen = schnet::make_generator(static_cast<uint64_t>(p.get_int("init_seed")) + 1000003);
    decoder_.init(g.embed_dim, widths[0], widths[1], text ? std::max<int64_t>(text_dim_, 1) : K, text, decoder_gen);
    if (p.get_int("detail_channels") > 0) {
      // The upscaled grid is 4g cells over SAM's S-pixel input: stride S / 4g (world SAM 2, ViT-B 4).
      const int64_t cells = 4 * g.embedding_grid;
      if (g.image_size % cells != 0)
        throw std::invalid_argument("detail_channels: SAM's input " + std::to_string(g.image_size) +
                                    " px is not a multiple of the decoder's " + std::to_string(cells) + " cells");
      decoder_.init_detail(p.get_int("detail_channels"), g.image_size / cells, decoder_gen);
    }
    if (text && text_dim_ == 0)
      throw std::invalid_argument(
          "classifier = \"text\" needs the CLIP model's embedding width: keep srm = true or "
          "use classifier = \"linear\"");

    // Flip TTA.
    flip_tta_ = p.get_bool("flip_tta");
    const auto fp = p.get<std::vector<int64_t>>("flip_pairs");
    if (fp.size() % 2)
      throw std::invalid_argument("flip_pairs needs pairs a, b, ...; it has " + std::to_string(fp.size()) + " values");
    for (size_t i = 0; i < fp.size(); i += 2) {
      if (fp[i] >= K || fp[i + 1] >= K)
        throw std::invalid_argument("flip_pairs names class " + std::to_string(std::max(fp[i], fp[i + 1])) +
                                    ", but there are " + std::to_string(K) + " classes");
      pairs_.push_back({fp[i], fp[i + 1]});
    }
    if (fp.empty())  // classes named "left X" / "right X", as the trainer's flip_swap pairs them
      for (const auto& [a, b] : ovseg::left_right_pairs(names_)) pairs_.push_back({a, b});

    for (auto& s : srm_)
      for (at::Tensor* t : tensors_of(s)) *t = t->to(device_);
    std::vector<schnet::NamedParam> own;
    ftm_.named("", own);
    decoder_.named("", own);
    for (auto& np : own)
      if (np.tensor->defined()) *np.tensor = np.tensor->to(device_);
  }

  void run(StageContext& ctx) override {
    const at::Tensor& img = ctx.input<Image>("image").pixels;
    expect_shape(img, {-1, 3, -1, -1}, "node '" + ctx.node_id() + "' input 'image'");
    at::Tensor text;
    if (ctx.has_input("text")) {
      const auto& te = ctx.input<TextEmbeddings>("text");
      if (static_cast<int64_t>(te.class_names.size()) != static_cast<int64_t>(names_.size()))
        throw std::invalid_argument("node '" + ctx.node_id() +
                                    "' input 'text': " + std::to_string(te.class_names.size()) +
                                    " classes, the node parses " + std::to_string(names_.size()) +
                                    " -- fix: use synonyms = \"mean\" on the text node and the same class list");
      text = te.embeddings;
      if (decoder_text_ && text.size(1) != decoder_.cls_w.size(0))
        throw std::invalid_argument("node '" + ctx.node_id() + "' input 'text': embeddings " + shape_string(text) +
                                    ", the text classifier expects width " + std::to_string(decoder_.cls_w.size(0)));
    } else if (decoder_text_) {
      throw std::invalid_argument("node '" + ctx.node_id() + "': classifier = \"text\" needs the 'text' input wired");
    }
    at::Tensor logits = parse(img, text);
    if (flip_tta_ && !ctx.training())
      logits = 0.5 * (logits + schnet::unflip_logits(parse(img.flip({3}), text), pairs_));
    ctx.set_output("logits", Logits{logits, names_});
  }

  // The weights-file layout (README "SCHNet"): sam.image_encoder.* (SAM's
  // official names), srm.J.*, ftm.*, decoder.*.
  std::vector<NamedTensor> parameters() override {
    std::vector<NamedTensor> out;
    for (auto& kv : sam_->state_dict()) {
      if (kv.first.rfind("image_encoder.", 0) != 0) continue;
      bool train = false;
      for (const auto& pat : sam_trainable_) train = train || glob_match(pat, kv.first);
      out.push_back({"sam." + kv.first, kv.second, train});
    }
    std::vector<schnet::NamedParam> own;
    for (size_t j = 0; j < srm_.size(); ++j) srm_[j].named("srm." + std::to_string(j) + ".", own);
    if (ftm_on_) ftm_.named("ftm.", own);
    decoder_.named("decoder.", own);
    for (auto& np : own) out.push_back({np.name, *np.tensor, true});
    return out;
  }

 private:
  static std::vector<at::Tensor*> tensors_of(schnet::SrmInjection& s) {
    std::vector<schnet::NamedParam> n;
    s.named("", n);
    std::vector<at::Tensor*> out;
    for (auto& np : n) out.push_back(np.tensor);
    return out;
  }

  // One forward: image (B,3,H,W) -> logits (B,K,H,W).
  at::Tensor parse(const at::Tensor& img, const at::Tensor& text) {
    const models::SamGeometry& g = sam_->geometry();
    const int64_t B = img.size(0), H = img.size(2), W = img.size(3), S = g.image_size, grid = g.embedding_grid;
    // SamPredictor's preprocessing (8-bit RGB, Pillow resize of the long side, normalise, pad).
    models::SamFrame frame;
    std::vector<at::Tensor> px;
    for (int64_t b = 0; b < B; ++b)
      px.push_back(models::sam_preprocess_image(models::sam_image_to_uint8(img[b]), S, &frame));
    const at::Tensor pixels = at::cat(px, 0).to(img.device());
    const int64_t valid_h = (frame.input_h * grid + S - 1) / S, valid_w = (frame.input_w * grid + S - 1) / S;

    // CLIP's multi-level features (frozen): the outputs of the SRM's blocks, patch tokens as (B,h,w,C).
    std::vector<at::Tensor> clip_maps(srm_.size());
    if (!srm_.empty()) {
      at::NoGradGuard no_grad;
      const at::Tensor x = models::normalize_clip_pixels(
          at::upsample_bilinear2d(img, {clip_size_, clip_size_}, /*align_corners=*/false));
      const models::VisionForward f = clip_->encode_image_tokens(x, /*keep_all_blocks=*/true);
      for (size_t j = 0; j < srm_.size(); ++j) {
        const at::Tensor& t = f.block_tokens[static_cast<size_t>(srm_[j].clip_block)];
        clip_maps[j] = t.narrow(1, 1, t.size(1) - 1).reshape({B, f.grid_h, f.grid_w, t.size(2)});
      }
    }
    const models::SamBlockHook hook = [&](int64_t block, const at::Tensor& tokens) {
      at::Tensor x = tokens;
      for (size_t j = 0; j < srm_.size(); ++j)
        if (srm_[j].sam_block == block) x = srm_[j](x, clip_maps[j], valid_h, valid_w);
      if (ftm_on_)
        for (size_t i = 0; i < ftm_.blocks.size(); ++i)
          if (ftm_.blocks[i] == block) x = ftm_(i, x);
      return x;
    };
    const at::Tensor emb = (srm_.empty() && !ftm_on_) ? sam_->encode_image(pixels) : sam_->encode_image(pixels, hook);
    const at::Tensor low = decoder_(emb, text, pixels);  // (B,K,4g,4g)
    // Sam.postprocess_masks: to the padded input size, crop the image's part, resize to the image.
    at::Tensor up = at::upsample_bilinear2d(low, {S, S}, false);
    up = up.narrow(2, 0, frame.input_h).narrow(3, 0, frame.input_w);
    return at::upsample_bilinear2d(up, {H, W}, false);
  }

  at::Device device_;
  std::vector<std::string> names_;
  std::shared_ptr<models::SamModel> sam_;
  std::vector<std::string> sam_trainable_;
  std::shared_ptr<models::ClipModel> clip_;
  int64_t clip_size_ = 0, text_dim_ = 0;
  std::vector<schnet::SrmInjection> srm_;
  schnet::Ftm ftm_;
  bool ftm_on_ = false;
  schnet::Decoder decoder_;
  bool decoder_text_ = false;
  bool flip_tta_ = false;
  std::vector<std::pair<int64_t, int64_t>> pairs_;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(Schnet);
