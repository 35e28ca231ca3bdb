// SAM's prompt encoder, as segment_anything/modeling/prompt_encoder.py
// (PromptEncoder, PositionEmbeddingRandom): points with labels, box corners
// and mask prompts become sparse tokens and a dense embedding; positions use
// the random-Fourier encoding of the stored Gaussian matrix.
#include <cmath>

#include "sam_components.hpp"

namespace ovseg::models::sam {
namespace {
const std::string kPrefix = "prompt_encoder.";
}  // namespace

void PromptEncoder::infer_geometry(const StateDict& sd, const std::string& source, SamGeometry& g) {
  const at::Tensor& pe0 = need_tensor(sd, kPrefix + "point_embeddings.0.weight", source, 2);
  if (pe0.size(1) != g.embed_dim)
    fail(source, "tensor '" + kPrefix + "point_embeddings.0.weight' has shape " + shape_string(pe0.sizes()) +
                     ", expected (1, " + std::to_string(g.embed_dim) + "): the image encoder's neck has " +
                     std::to_string(g.embed_dim) + " channels");
  g.mask_in_chans = need_tensor(sd, kPrefix + "mask_downscaling.3.weight", source, 4).size(0);
}

void PromptEncoder::bind(TensorVisitor& v) {
  const int64_t C = g_.embed_dim, m = g_.mask_in_chans;
  v(kPrefix + "pe_layer.positional_encoding_gaussian_matrix", gaussian_matrix_, {2, C / 2}, Role::Buffer);
  point_embeddings_.resize(4);  // negative point, positive point, box corner 1, box corner 2
  for (int i = 0; i < 4; ++i)
    bind_embedding(v, kPrefix + "point_embeddings." + std::to_string(i) + ".weight", point_embeddings_[i], 1, C);
  bind_embedding(v, kPrefix + "not_a_point_embed.weight", not_a_point_, 1, C);
  down0_.bind(v, kPrefix + "mask_downscaling.0.", 1, m / 4, 2);
  down0_.stride = 2;
  down1_.bind(v, kPrefix + "mask_downscaling.1.", m / 4);
  down3_.bind(v, kPrefix + "mask_downscaling.3.", m / 4, m, 2);
  down3_.stride = 2;
  down4_.bind(v, kPrefix + "mask_downscaling.4.", m);
  down6_.bind(v, kPrefix + "mask_downscaling.6.", m, C, 1);
  bind_embedding(v, kPrefix + "no_mask_embed.weight", no_mask_, 1, C);
}

at::Tensor PromptEncoder::pe_encoding(const at::Tensor& coords01) const {
  // PositionEmbeddingRandom._pe_encoding: [0,1]^2 -> [-1,1]^2, @ G, 2 pi, sin | cos.
  at::Tensor c = coords01 * 2 - 1;
  c = at::matmul(c, gaussian_matrix_);
  c = c * (2 * M_PI);
  return at::cat({at::sin(c), at::cos(c)}, -1);
}

at::Tensor PromptEncoder::dense_pe() const {
  // PositionEmbeddingRandom.forward((g, g)): pixel centres of the embedding grid.
  const int64_t h = g_.embedding_grid, w = g_.embedding_grid;
  const at::Tensor grid = at::ones({h, w}, gaussian_matrix_.options());
  const at::Tensor y = (grid.cumsum(0) - 0.5) / h;
  const at::Tensor x = (grid.cumsum(1) - 0.5) / w;
  return pe_encoding(at::stack({x, y}, -1)).permute({2, 0, 1}).unsqueeze(0);
}

at::Tensor PromptEncoder::embed_points(const at::Tensor& points, const at::Tensor& labels, bool pad) const {
  // The shift and the division run in the points' own floating dtype: the
  // automatic mask generator hands float64 points to the prompt encoder, and
  // forward_with_coords converts to float32 only after dividing.
  at::Tensor p = (points.is_floating_point() ? points : points.to(at::kFloat)) + 0.5;  // centre of the pixel
  at::Tensor l = labels;
  if (pad) {
    p = at::cat({p, at::zeros({p.size(0), 1, 2}, p.options())}, 1);
    l = at::cat({l, at::full({l.size(0), 1}, -1, l.options())}, 1);
  }
  // forward_with_coords: x / W, y / H of the encoder's input frame.
  const double S = static_cast<double>(g_.image_size);
  at::Tensor e = pe_encoding(at::stack({p.select(-1, 0) / S, p.select(-1, 1) / S}, -1).to(at::kFloat));
  const at::Tensor lab = l.unsqueeze(-1);
  e = at::where(lab == -1, not_a_point_.expand_as(e), e);  // 0 + not_a_point
  e = at::where(lab == 0, e + point_embeddings_[0], e);
  e = at::where(lab == 1, e + point_embeddings_[1], e);
  return e;
}

at::Tensor PromptEncoder::embed_boxes(const at::Tensor& boxes) const {
  const at::Tensor b = (boxes.is_floating_point() ? boxes : boxes.to(at::kFloat)) + 0.5;
  const at::Tensor c = b.reshape({-1, 2, 2});
  const double S = static_cast<double>(g_.image_size);
  const at::Tensor e = pe_encoding(at::stack({c.select(-1, 0) / S, c.select(-1, 1) / S}, -1).to(at::kFloat));
  return at::stack({e.select(1, 0) + point_embeddings_[2].squeeze(0), e.select(1, 1) + point_embeddings_[3].squeeze(0)},
                   1);
}

at::Tensor PromptEncoder::embed_masks(const at::Tensor& masks) const {
  at::Tensor x = gelu_exact(down1_(down0_(masks.to(at::kFloat))));
  x = gelu_exact(down4_(down3_(x)));
  return down6_(x);
}

SamPromptEmbeddings PromptEncoder::forward(const at::Tensor& points, const at::Tensor& labels, const at::Tensor& boxes,
                                           const at::Tensor& masks) const {
  const int64_t bs = points.defined()  ? points.size(0)
                     : boxes.defined() ? boxes.size(0)
                     : masks.defined() ? masks.size(0)
                                       : 1;
  const int64_t C = g_.embed_dim, g = g_.embedding_grid;
  std::vector<at::Tensor> sparse;
  if (points.defined()) {
    TORCH_CHECK(labels.defined(), "SAM prompt encoder: point coordinates need labels");
    sparse.push_back(embed_points(points, labels, /*pad=*/!boxes.defined()));
  }
  if (boxes.defined()) sparse.push_back(embed_boxes(boxes));
  SamPromptEmbeddings out;
  out.sparse = sparse.empty() ? at::empty({bs, 0, C}, gaussian_matrix_.options()) : at::cat(sparse, 1);
  out.dense = masks.defined() ? embed_masks(masks) : no_mask_.reshape({1, -1, 1, 1}).expand({bs, -1, g, g});
  return out;
}

}  // namespace ovseg::models::sam
