// SAM's mask decoder, as segment_anything/modeling/mask_decoder.py
// (MaskDecoder.predict_masks, MLP) and transformer.py (TwoWayTransformer,
// TwoWayAttentionBlock, Attention): output tokens attend to the image and the
// image to the tokens, the embedding is upscaled 4x, each mask token's
// hypernetwork MLP makes its mask, the IoU head scores them.
#include <cmath>

#include "sam_components.hpp"

namespace ovseg::models::sam {
namespace {

const std::string kPrefix = "mask_decoder.";
const std::string kTransformer = kPrefix + "transformer.";

// TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8):
// the MLP of every block uses ReLU (the transformer's default activation).
using Block = MaskDecoder::TwoWayBlock;

at::Tensor block_mlp(const Block& b, const at::Tensor& x) { return b.lin2(at::relu(b.lin1(x))); }

// TwoWayAttentionBlock.forward
void two_way_block(const Block& b, at::Tensor& queries, at::Tensor& keys, const at::Tensor& query_pe,
                   const at::Tensor& key_pe) {
  if (b.skip_first_layer_pe) {
    queries = b.self_attn(queries, queries, queries);
  } else {
    const at::Tensor q = queries + query_pe;
    queries = queries + b.self_attn(q, q, queries);
  }
  queries = b.norm1(queries);
  at::Tensor q = queries + query_pe;
  at::Tensor k = keys + key_pe;
  queries = b.norm2(queries + b.token_to_image(q, k, keys));
  queries = b.norm3(queries + block_mlp(b, queries));
  q = queries + query_pe;
  k = keys + key_pe;
  keys = b.norm4(keys + b.image_to_token(k, q, queries));
}

}  // namespace

void MaskDecoder::Attention::bind(TensorVisitor& vis, const std::string& p, int64_t dim, int64_t internal, int64_t h) {
  heads = h;
  q.bind(vis, p + "q_proj.", dim, internal);
  k.bind(vis, p + "k_proj.", dim, internal);
  v.bind(vis, p + "v_proj.", dim, internal);
  out.bind(vis, p + "out_proj.", internal, dim);
}

at::Tensor MaskDecoder::Attention::operator()(const at::Tensor& qx, const at::Tensor& kx, const at::Tensor& vx) const {
  // _separate_heads: (b, n, c) -> (b, heads, n, c/heads)
  auto separate = [&](const at::Tensor& x) {
    return x.reshape({x.size(0), x.size(1), heads, x.size(2) / heads}).transpose(1, 2);
  };
  const at::Tensor qh = separate(q(qx)), kh = separate(k(kx)), vh = separate(v(vx));
  const double c_per_head = static_cast<double>(qh.size(3));
  at::Tensor attn = at::matmul(qh, kh.permute({0, 1, 3, 2}));
  attn = (attn / std::sqrt(c_per_head)).softmax(-1);
  const at::Tensor o = at::matmul(attn, vh);
  // _recombine_heads
  return out(o.transpose(1, 2).reshape({o.size(0), o.size(2), o.size(1) * o.size(3)}));
}

void MaskDecoder::infer_geometry(const StateDict& sd, const std::string& source, const SamOptions& options,
                                 SamGeometry& g) {
  const at::Tensor& iou = need_tensor(sd, kPrefix + "iou_token.weight", source, 2);
  if (iou.size(1) != g.embed_dim)
    fail(source, "tensor '" + kPrefix + "iou_token.weight' has shape " + shape_string(iou.sizes()) + ", expected (1, " +
                     std::to_string(g.embed_dim) + ") to match the image embeddings");
  g.num_mask_tokens = need_tensor(sd, kPrefix + "mask_tokens.weight", source, 2).size(0);
  if (g.num_mask_tokens < 1) fail(source, "tensor '" + kPrefix + "mask_tokens.weight' has no rows");
  g.decoder_depth = count_indexed(sd, kTransformer + "layers.", source);
  if (g.decoder_depth == 0) fail(source, "missing tensors of '" + kTransformer + "layers.0'");
  const std::string l0 = kTransformer + "layers.0.";
  g.decoder_mlp_dim = need_tensor(sd, l0 + "mlp.lin1.weight", source, 2).size(0);
  const int64_t internal = need_tensor(sd, l0 + "cross_attn_token_to_image.q_proj.weight", source, 2).size(0);
  if (internal <= 0 || g.embed_dim % internal != 0)
    fail(source, "tensor '" + l0 + "cross_attn_token_to_image.q_proj.weight' has " + std::to_string(internal) +
                     " rows, which does not divide the width " + std::to_string(g.embed_dim));
  g.attention_downsample = g.embed_dim / internal;
  g.decoder_heads = options.decoder_heads > 0 ? options.decoder_heads : kSamDecoderHeads;
  if (internal % g.decoder_heads != 0)
    fail(source, "the decoder's cross-attention width " + std::to_string(internal) + " is not divisible by " +
                     std::to_string(g.decoder_heads) +
                     " heads (set SamOptions::decoder_heads or the safetensors "
                     "metadata 'ovseg.sam.decoder_heads')");
  g.iou_head_depth = count_indexed(sd, kPrefix + "iou_prediction_head.layers.", source);
  if (g.iou_head_depth == 0) fail(source, "missing tensor '" + kPrefix + "iou_prediction_head.layers.0.weight'");
  g.iou_head_hidden = need_tensor(sd, kPrefix + "iou_prediction_head.layers.0.weight", source, 2).size(0);
  if (g.iou_head_depth == 1) g.iou_head_hidden = g.embed_dim;  // MLP with one layer has no hidden width
}

void MaskDecoder::bind(TensorVisitor& v) {
  const int64_t C = g_.embed_dim, internal = C / g_.attention_downsample, heads = g_.decoder_heads;
  layers_.resize(static_cast<size_t>(g_.decoder_depth));
  for (int64_t i = 0; i < g_.decoder_depth; ++i) {
    const std::string p = kTransformer + "layers." + std::to_string(i) + ".";
    Block& b = layers_[i];
    b.skip_first_layer_pe = (i == 0);
    b.self_attn.bind(v, p + "self_attn.", C, C, heads);
    b.norm1.bind(v, p + "norm1.", C);
    b.token_to_image.bind(v, p + "cross_attn_token_to_image.", C, internal, heads);
    b.norm2.bind(v, p + "norm2.", C);
    b.lin1.bind(v, p + "mlp.lin1.", C, g_.decoder_mlp_dim);
    b.lin2.bind(v, p + "mlp.lin2.", g_.decoder_mlp_dim, C);
    b.norm3.bind(v, p + "norm3.", C);
    b.norm4.bind(v, p + "norm4.", C);
    b.image_to_token.bind(v, p + "cross_attn_image_to_token.", C, internal, heads);
  }
  final_attn_.bind(v, kTransformer + "final_attn_token_to_image.", C, internal, heads);
  norm_final_.bind(v, kTransformer + "norm_final_attn.", C);
  bind_embedding(v, kPrefix + "iou_token.weight", iou_token_, 1, C);
  bind_embedding(v, kPrefix + "mask_tokens.weight", mask_tokens_, g_.num_mask_tokens, C);
  up0_.bind(v, kPrefix + "output_upscaling.0.", C, C / 4, 2);
  up0_.stride = 2;
  up1_.bind(v, kPrefix + "output_upscaling.1.", C / 4);
  up3_.bind(v, kPrefix + "output_upscaling.3.", C / 4, C / 8, 2);
  up3_.stride = 2;
  hypernetworks_.resize(static_cast<size_t>(g_.num_mask_tokens));
  for (int64_t i = 0; i < g_.num_mask_tokens; ++i)
    hypernetworks_[i].bind(v, kPrefix + "output_hypernetworks_mlps." + std::to_string(i) + ".", C, C, C / 8, 3);
  iou_head_.bind(v, kPrefix + "iou_prediction_head.", C, g_.iou_head_hidden, g_.num_mask_tokens, g_.iou_head_depth);
}

SamMaskOutput MaskDecoder::forward(const at::Tensor& image_embeddings, const at::Tensor& image_pe,
                                   const SamPromptEmbeddings& prompts, bool multimask_output) const {
  const at::Tensor& sparse = prompts.sparse;
  const int64_t B = sparse.size(0), C = g_.embed_dim;
  TORCH_CHECK(image_embeddings.dim() == 4 && (image_embeddings.size(0) == 1 || image_embeddings.size(0) == B),
              "SAM mask decoder: image embeddings ", image_embeddings.sizes(), " must hold 1 image or one per prompt (",
              B, ")");
  // predict_masks: [iou token | mask tokens | prompt tokens]
  const at::Tensor output_tokens = at::cat({iou_token_, mask_tokens_}, 0).unsqueeze(0).expand({B, -1, -1});
  const at::Tensor tokens = at::cat({output_tokens, sparse}, 1);
  // One image for all prompts: repeat_interleave as the reference; one per
  // prompt (batched training) is used as it is.
  const at::Tensor src0 = image_embeddings.size(0) == B ? image_embeddings
                                                        : at::repeat_interleave(image_embeddings, B, 0);
  const at::Tensor src = src0 + prompts.dense;
  const at::Tensor pos_src = at::repeat_interleave(image_pe, B, 0);
  const int64_t h = src.size(2), w = src.size(3);

  // TwoWayTransformer.forward on (B, h*w, C) image tokens.
  at::Tensor keys = src.flatten(2).permute({0, 2, 1});
  const at::Tensor key_pe = pos_src.flatten(2).permute({0, 2, 1});
  at::Tensor queries = tokens;
  for (const auto& layer : layers_) two_way_block(layer, queries, keys, tokens, key_pe);
  queries = norm_final_(queries + final_attn_(queries + tokens, keys + key_pe, keys));

  const at::Tensor iou_token_out = queries.select(1, 0);
  const at::Tensor mask_tokens_out = queries.narrow(1, 1, g_.num_mask_tokens);
  const at::Tensor image = keys.transpose(1, 2).view({B, C, h, w});
  // output_upscaling: ConvT -> LayerNorm2d -> GELU -> ConvT -> GELU
  const at::Tensor up = gelu_exact(up3_(gelu_exact(up1_(up0_(image)))));
  std::vector<at::Tensor> hyper;
  for (int64_t i = 0; i < g_.num_mask_tokens; ++i) hyper.push_back(hypernetworks_[i](mask_tokens_out.select(1, i)));
  const at::Tensor hyper_in = at::stack(hyper, 1);
  const int64_t uc = up.size(1), uh = up.size(2), uw = up.size(3);
  const at::Tensor masks = at::matmul(hyper_in, up.view({B, uc, uh * uw})).view({B, -1, uh, uw});
  const at::Tensor iou_pred = iou_head_(iou_token_out);

  // MaskDecoder.forward: multimask -> tokens 1.., else token 0.
  SamMaskOutput out;
  const int64_t first = multimask_output ? 1 : 0, count = multimask_output ? g_.num_mask_tokens - 1 : 1;
  TORCH_CHECK(count >= 1, "SAM mask decoder: multimask output needs more than one mask token");
  out.low_res_masks = masks.narrow(1, first, count);
  out.iou_predictions = iou_pred.narrow(1, first, count);
  return out;
}

}  // namespace ovseg::models::sam
