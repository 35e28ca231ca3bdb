// SamModel: the image encoder (ViT or TinyViT), prompt encoder and mask
// decoder of one checkpoint, assembled as segment_anything/modeling/sam.py's
// Sam, with the geometry read off the state dict.
#include <ovseg/models/sam_model.hpp>

#include <ovseg/models/checkpoint_io.hpp>

#include <sstream>

#include "sam_components.hpp"

namespace ovseg::models {

struct SamModel::Impl {
  SamGeometry geometry;
  std::string source;
  std::unique_ptr<sam::ImageEncoder> encoder;
  std::unique_ptr<sam::PromptEncoder> prompt_encoder;
  std::unique_ptr<sam::MaskDecoder> mask_decoder;

  void bind(sam::TensorVisitor& v) {
    encoder->bind(v);
    prompt_encoder->bind(v);
    mask_decoder->bind(v);
  }
};

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// DDP checkpoints prefix every key with "module.".
StateDict strip_module_prefix(const StateDict& sd) {
  bool all = !sd.empty();
  for (const auto& kv : sd) all = all && starts_with(kv.first, "module.");
  if (!all) return sd;
  StateDict out;
  for (const auto& kv : sd) out[kv.first.substr(7)] = kv.second;
  return out;
}

}  // namespace

void sam::visit_sam_layout(const SamGeometry& g, TensorVisitor& v) {
  SamModel::Impl impl;
  impl.geometry = g;
  impl.encoder = g.encoder == SamEncoderType::ViT ? make_vit_encoder(impl.geometry)
                                                  : make_tiny_vit_encoder(impl.geometry);
  impl.prompt_encoder = std::make_unique<PromptEncoder>(impl.geometry);
  impl.mask_decoder = std::make_unique<MaskDecoder>(impl.geometry);
  impl.bind(v);
}

bool is_sam_state_dict(const StateDict& sd) {
  bool enc = false, dec = false;
  for (const auto& kv : sd) {
    const std::string k = starts_with(kv.first, "module.") ? kv.first.substr(7) : kv.first;
    enc = enc || starts_with(k, "image_encoder.");
    dec = dec || starts_with(k, "mask_decoder.");
  }
  return enc && dec;
}

SamGeometry infer_sam_geometry(const StateDict& sd_in, const std::string& source, const SamOptions& options) {
  const StateDict sd = strip_module_prefix(sd_in);
  if (!is_sam_state_dict(sd)) {
    std::string first;
    int n = 0;
    for (auto it = sd.begin(); it != sd.end() && n < 3; ++it, ++n) first += (n ? ", '" : "'") + it->first + "'";
    sam::fail(source, "does not look like a SAM checkpoint (no 'image_encoder.*' and 'mask_decoder.*' tensors; " +
                          std::to_string(sd.size()) + " tensors" + (first.empty() ? "" : ", first: " + first) + ")");
  }
  SamGeometry g;
  if (sd.count("image_encoder.patch_embed.proj.weight")) {
    g.encoder = SamEncoderType::ViT;
    sam::infer_vit_geometry(sd, source, g);
  } else if (sd.count("image_encoder.patch_embed.seq.0.c.weight")) {
    g.encoder = SamEncoderType::TinyViT;
    sam::infer_tiny_vit_geometry(sd, source, options, g);
  } else {
    sam::fail(source,
              "unknown image encoder: neither 'image_encoder.patch_embed.proj.weight' (SAM ViT) nor "
              "'image_encoder.patch_embed.seq.0.c.weight' (MobileSAM TinyViT)");
  }
  sam::PromptEncoder::infer_geometry(sd, source, g);
  sam::MaskDecoder::infer_geometry(sd, source, options, g);
  return g;
}

int64_t SamGeometry::encoder_blocks() const {
  return encoder == SamEncoderType::ViT ? vit.depth : tiny_vit.num_blocks();
}

std::string SamGeometry::describe() const {
  std::ostringstream os;
  auto list = [](const std::vector<int64_t>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
    return s;
  };
  if (encoder == SamEncoderType::ViT) {
    os << "SAM ViT width " << vit.width << " x " << vit.depth << " blocks (" << vit.heads << " heads, patch "
       << vit.patch_size << ", window " << vit.window << ", global blocks " << list(vit.global_blocks) << ")";
  } else {
    os << "MobileSAM TinyViT widths " << list(tiny_vit.widths) << ", depths " << list(tiny_vit.depths) << ", heads "
       << list(tiny_vit.heads) << ", windows " << list(tiny_vit.windows);
  }
  os << ", " << image_size << " px -> " << embed_dim << " x " << embedding_grid << "x" << embedding_grid << "; decoder "
     << decoder_depth << " layers, " << decoder_heads << " heads, mlp " << decoder_mlp_dim << ", " << num_mask_tokens
     << " mask tokens";
  return os.str();
}

SamModel::SamModel() : impl_(std::make_unique<Impl>()) {}
SamModel::~SamModel() = default;

std::shared_ptr<SamModel> SamModel::from_state_dict(const StateDict& sd_in, const std::string& source,
                                                    const SamOptions& options) {
  const StateDict sd = strip_module_prefix(sd_in);
  std::shared_ptr<SamModel> m(new SamModel());
  Impl& impl = *m->impl_;
  impl.source = source;
  impl.geometry = infer_sam_geometry(sd, source, options);
  impl.encoder = impl.geometry.encoder == SamEncoderType::ViT ? sam::make_vit_encoder(impl.geometry)
                                                              : sam::make_tiny_vit_encoder(impl.geometry);
  impl.prompt_encoder = std::make_unique<sam::PromptEncoder>(impl.geometry);
  impl.mask_decoder = std::make_unique<sam::MaskDecoder>(impl.geometry);
  sam::LoadVisitor load(sd, source);
  impl.bind(load);
  return m;
}

namespace {

std::vector<int64_t> parse_int_list(const std::string& text, const std::string& path, const std::string& key) {
  std::vector<int64_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      out.push_back(std::stoll(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw CheckpointError("SAM checkpoint '" + path + "': metadata '" + key + "' = '" + text +
                            "' is not a comma-separated list of integers");
    }
  }
  return out;
}

}  // namespace

std::shared_ptr<SamModel> SamModel::load(const std::string& path, const SamOptions& options) {
  SamOptions o = options;
  StateDict sd;
  if (detect_checkpoint_format(path) == CheckpointFormat::SafeTensors) {
    std::map<std::string, std::string> meta;
    sd = load_safetensors(path, &meta);
    auto from_meta = [&](const char* key) -> std::vector<int64_t> {
      auto it = meta.find(key);
      return it == meta.end() ? std::vector<int64_t>{} : parse_int_list(it->second, path, key);
    };
    if (o.decoder_heads <= 0)
      if (auto v = from_meta("ovseg.sam.decoder_heads"); v.size() == 1) o.decoder_heads = v[0];
    if (o.tiny_vit_image_size <= 0)
      if (auto v = from_meta("ovseg.sam.image_size"); v.size() == 1) o.tiny_vit_image_size = v[0];
    if (o.tiny_vit_merge_strides.empty()) o.tiny_vit_merge_strides = from_meta("ovseg.sam.merge_strides");
  } else {
    sd = load_state_dict(path);
  }
  return from_state_dict(sd, path, o);
}

const SamGeometry& SamModel::geometry() const { return impl_->geometry; }
const std::string& SamModel::source_name() const { return impl_->source; }

const at::Tensor& sam::checked_hook_output(const at::Tensor& out, const at::Tensor& in, int64_t block) {
  if (!out.defined() || out.sizes() != in.sizes())
    throw std::invalid_argument("SAM image encoder: the block hook returned " +
                                (out.defined() ? shape_string(out.sizes()) : std::string("an undefined tensor")) +
                                " after block " + std::to_string(block) + ", expected the tokens' shape " +
                                shape_string(in.sizes()) + " (B, h, w, C)");
  return out;
}

at::Tensor SamModel::encode_image(const at::Tensor& pixels, const std::vector<int64_t>& taps,
                                  std::vector<at::Tensor>* tap_outputs) const {
  return encode_image(pixels, SamBlockHook{}, taps, tap_outputs);
}

at::Tensor SamModel::encode_image(const at::Tensor& pixels, const SamBlockHook& hook, const std::vector<int64_t>& taps,
                                  std::vector<at::Tensor>* tap_outputs) const {
  const SamGeometry& g = impl_->geometry;
  TORCH_CHECK(pixels.dim() == 4 && pixels.size(1) == 3 && pixels.size(2) == g.image_size &&
                  pixels.size(3) == g.image_size,
              "SAM image encoder: expected preprocessed pixels (B, 3, ", g.image_size, ", ", g.image_size,
              ") (resized to the long side, normalised and padded), got ", pixels.sizes());
  for (int64_t t : taps)
    TORCH_CHECK(t >= 0 && t < g.encoder_blocks(), "SAM image encoder: tap block ", t, " out of range [0, ",
                g.encoder_blocks(), ")");
  return impl_->encoder->forward(pixels.to(at::kFloat), taps, tap_outputs, hook);
}

SamPromptEmbeddings SamModel::encode_prompts(const at::Tensor& points, const at::Tensor& labels,
                                             const at::Tensor& boxes, const at::Tensor& masks) const {
  const SamGeometry& g = impl_->geometry;
  if (points.defined())
    TORCH_CHECK(points.dim() == 3 && points.size(2) == 2 && labels.defined() && labels.dim() == 2 &&
                    labels.size(0) == points.size(0) && labels.size(1) == points.size(1),
                "SAM prompt encoder: expected points (B,N,2) and labels (B,N), got ", points.sizes(), " and ",
                labels.defined() ? labels.sizes() : at::IntArrayRef{});
  if (boxes.defined())
    TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 4, "SAM prompt encoder: expected boxes (B,4), got ",
                boxes.sizes());
  if (masks.defined())
    TORCH_CHECK(masks.dim() == 4 && masks.size(1) == 1 && masks.size(2) == g.low_res_size() &&
                    masks.size(3) == g.low_res_size(),
                "SAM prompt encoder: expected mask inputs (B,1,", g.low_res_size(), ",", g.low_res_size(), "), got ",
                masks.sizes());
  return impl_->prompt_encoder->forward(points, labels, boxes, masks);
}

at::Tensor SamModel::dense_positional_encoding() const { return impl_->prompt_encoder->dense_pe(); }

SamMaskOutput SamModel::decode_masks(const at::Tensor& image_embeddings, const SamPromptEmbeddings& prompts,
                                     bool multimask_output) const {
  const SamGeometry& g = impl_->geometry;
  TORCH_CHECK(image_embeddings.dim() == 4 && image_embeddings.size(1) == g.embed_dim &&
                  image_embeddings.size(2) == g.embedding_grid && image_embeddings.size(3) == g.embedding_grid,
              "SAM mask decoder: expected image embeddings (1, ", g.embed_dim, ", ", g.embedding_grid, ", ",
              g.embedding_grid, "), got ", image_embeddings.sizes());
  return impl_->mask_decoder->forward(image_embeddings, dense_positional_encoding(), prompts, multimask_output);
}

at::Device SamModel::device() const { return impl_->prompt_encoder->device(); }

void SamModel::to(at::Device device) {
  sam::MoveVisitor move(device);
  impl_->bind(move);
}

StateDict SamModel::state_dict() const {
  StateDict sd;
  sam::SaveVisitor save(sd);
  impl_->bind(save);
  return sd;
}

std::vector<std::string> SamModel::buffer_names() const {
  sam::RoleVisitor buffers(sam::Role::Buffer);
  impl_->bind(buffers);
  return {buffers.names.begin(), buffers.names.end()};
}

}  // namespace ovseg::models
