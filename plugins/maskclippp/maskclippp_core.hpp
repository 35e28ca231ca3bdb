// MaskCLIP++ (Zeng et al., arXiv 2412.11464; code HVision-NKU/MaskCLIPpp,
// read, not copied): mask-level classification with CLIP, as the authors'
// code computes it. Pure functions on ATen tensors and the shared ClipModel,
// so the stage (maskclippp.cpp) and the parity test call the same code.
//
// Where each piece comes from in the authors' code:
//   resample_positions        vencoder/clip_vit.py _interpolate_postion_embedding
//   mask_attention_biases     vencoder/clip_vit.py _masks_to_attn_biases (+ utils/misc.py downsample_masks)
//   mask_token_block          one ResidualAttentionBlock run on [mask tokens; CLS; patches] with those
//                             biases (_attention_with_biases): mask tokens see only the patches, nobody
//                             sees the mask tokens, so the CLS / patch rows are CLIP's own block
//   encode_masks              vencoder/clip_vit.py _extract_features (m_embs after ln_post @ proj)
//   correlations              maskclippp.py _get_corrs (per-template cosine x clamp(exp(logit_scale), 100))
//   linear_psm / mean_psm     psm/linear.py LinearPSM, psm/dummy.py DummyPSM
//   max_over_synonyms         maskclippp.py _get_pred_logits_from_corr
//   reweighted_ce             criterion/reweight_ce.py ReweightCELoss (balance_cls, ignore_empty)
//   semantic_merge            maskclippp.py _semantic_inference (softmax over classes, einsum qc,qhw->chw)
//   geometric_ensemble        maskclippp.py _ensemble_logits (open-vocabulary segmentor branch)
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "ovseg/models/clip_model.hpp"

namespace ovseg::maskclippp {

// The 14 prompt templates the authors' configs use (TEMPLATES["t14"], from FC-CLIP).
const std::vector<std::string>& t14_templates();

// CLIP's (1+g*g, C) positions resized to a gh x gw grid: bicubic with
// align_corners=True (the authors' choice); the CLS row kept.
at::Tensor resample_positions(const at::Tensor& pos, int64_t gh, int64_t gw);

// (Q,H,W) float masks -> (Q,gh,gw) by `method`: nearest, bilinear, bicubic
// (align_corners=False), avg or max (adaptive pooling).
at::Tensor downsample_masks(const at::Tensor& masks, int64_t gh, int64_t gw, const std::string& method);

struct MaskBiases {
  at::Tensor bias;   // (L', heads, Q, gh*gw): additive attention bias of each mask token on the patches
  at::Tensor areas;  // (Q): sum of the downsampled soft mask (0 = the mask vanished at this grid)
};
// down = downsample(masks); inside = down > threshold (threshold < 0: half of
// each mask's maximum, the configs' DOWN_MASK_THRESH None); bias =
// down * exp(mask_logit_scale[l, h]) inside and -100 outside.
// mask_logit_scale: (L', heads).
MaskBiases mask_attention_biases(const at::Tensor& masks, int64_t gh, int64_t gw, const at::Tensor& mask_logit_scale,
                                 const std::string& method, double threshold);

// One residual block for Q mask tokens m (Q,C) reading the patch tokens of one
// image x (1+hw, C; row 0 = CLS, which they never see) with bias (heads, Q, hw).
at::Tensor mask_token_block(const models::ResidualBlockWeights& blk, const at::Tensor& m, const at::Tensor& x,
                            const at::Tensor& bias);

struct EncodeOptions {
  int64_t mask_prior_begin = 0;  // 1-based first block with mask tokens (MASK_PRIOR_BEG); 0 = the last block
  std::string downsample = "bilinear";
  double threshold = -1.0;                 // < 0: half of each mask's maximum
  std::string pooling = "mask_attention";  // or "mask_average" (our ablation: mean dense feature inside the mask)
};
struct MaskEmbeddings {
  std::vector<at::Tensor> embeddings;  // per image (Q_b, embed), after ln_post @ proj, not normalised
  std::vector<at::Tensor> areas;       // per image (Q_b)
};
// pixels: (B,3,H,W) CLIP-normalised, H and W multiples of the patch size;
// masks[b]: (Q_b,H,W) float in [0,1]; positions: the model's (1+g*g, C).
MaskEmbeddings encode_masks(const models::ClipModel& model, const at::Tensor& positions, const at::Tensor& pixels,
                            const std::vector<at::Tensor>& masks, const at::Tensor& mask_logit_scale,
                            const EncodeOptions& options);

// (N,D) mask embeddings, (Ka,T,D) unit text embeddings -> (N,Ka,T) cosines,
// times min(logit_scale, 100) when logit_scale > 0 (USE_LOGIT_SCALE).
at::Tensor correlations(const at::Tensor& mask_embeddings, const at::Tensor& text, double logit_scale);

// LinearPSM: corr_proj_out(corr_proj_in(corrs)).squeeze(-1): (N,Ka,T) -> (N,Ka).
at::Tensor linear_psm(const at::Tensor& corrs, const at::Tensor& w_in, const at::Tensor& b_in, const at::Tensor& w_out,
                      const at::Tensor& b_out);
inline at::Tensor mean_psm(const at::Tensor& corrs) { return corrs.mean(-1); }

// (N,Ka) -> (N,K): the max over each class's consecutive synonym columns.
at::Tensor max_over_synonyms(const at::Tensor& scores, const std::vector<int64_t>& synonyms_per_class);

// ReweightCELoss: cross entropy of logits / temperature; with balance, each
// mask weighs 1 / (images x classes in its image x masks of its class in its
// image), else 1 / (images x masks in its image); masks of area 0 dropped
// first when ignore_empty.
at::Tensor reweighted_ce(const at::Tensor& logits, const at::Tensor& labels, const at::Tensor& mask2batch,
                         const at::Tensor& areas, double temperature, bool balance, bool ignore_empty);

// (Q,K) class logits, (Q,H,W) masks -> (K,H,W): softmax over K, sum over masks.
at::Tensor semantic_merge(const at::Tensor& class_logits, const at::Tensor& masks);

// _ensemble_logits: log(p_f^(1-a) p^a + 1e-8) on classes seen in training
// (seen[k] = true), exponents beta on the others; logits (Q,K) from CLIP,
// segmentor_logits (Q,K+1) with a void column last.
at::Tensor geometric_ensemble(const at::Tensor& logits, const at::Tensor& segmentor_logits, const at::Tensor& seen,
                              double alpha, double beta);

}  // namespace ovseg::maskclippp
