// Chimera-Seg's training losses as plain ATen functions (no SDK, no model):
// the Selective Global Distillation (SGD) schedule and loss, and the Semantic
// Alignment Module's (SAM) loss. The paper (arXiv 2506.22032) has no public
// code and its public text is the abstract, so every form below is an
// assumption with a documented default (README "Chimera-Seg"; the TOML).
#pragma once

#include <cstdint>
#include <string>

#include <ATen/ATen.h>

namespace ovseg::chimera {

// Fraction of a crop's dense features SGD keeps at training forward `step`
// of `total` (the paper: "gradually reducing the number of features used for
// alignment as training progresses"). `schedule`:
//   "linear"   start -> end linearly over [0, total];
//   "cosine"   start -> end along a half cosine;
//   "step"     start until total/2, end afterwards;
//   "constant" start throughout (start = 1: CLIP-ZSS's global alignment of
//              all dense features, no selection).
// After `total` the end ratio holds. Throws on an unknown schedule.
double sgd_keep_ratio(const std::string& schedule, double start, double end, int64_t step, int64_t total);

// The number of features kept out of `n`: ceil(ratio * n), at least 1.
int64_t sgd_keep_count(double ratio, int64_t n);

// SGD's loss. dense (B,D,h,w): the CSH's dense features (CLIP's embedding
// space); teacher (B,D): CLIP's image embedding (ln_post(CLS) @ proj) of the
// same crops, no gradient. Per image, the `keep` features most cosine-similar
// to its teacher are selected (the selection itself carries no gradient), and
// their mean (of unit vectors) is the student's global embedding g. `form`:
//   "infonce" -log softmax_j(cos(g_i, t_j) / tau)[i] over the batch (CLIP-ZSS's
//             "pull the same image's CLS token, push the others apart"); a
//             batch of one has no negatives and falls back to "cosine";
//   "cosine"  mean 1 - cos(g_i, t_i);
//   "l1"      mean |g_i/|g_i| - t_i/|t_i||_1 / D.
at::Tensor selective_global_distillation(const at::Tensor& dense, const at::Tensor& teacher, int64_t keep,
                                         const std::string& form, double tau);

// The indices SGD selects, (B, keep) int64, most similar first: for tests and
// inspection.
at::Tensor sgd_selection(const at::Tensor& dense, const at::Tensor& teacher, int64_t keep);

// SAM's loss. dense (B,D,h,w), text (K,D) class embeddings (the seen classes
// while training), labels (B,H,W) int64 in the same channel numbering, any
// value outside [0, K) ignored (255: void or unseen). Every class present in
// an image gets a prototype: the mean of the dense features weighted by the
// class's area in each feature cell (its one-hot map average-pooled to h x w);
// each prototype is classified against all K text embeddings,
// cross-entropy(cos(p, t_k) / tau, its class), averaged over (image, class)
// pairs. No labelled pixel in the batch: zero (still attached to `dense`).
at::Tensor semantic_alignment(const at::Tensor& dense, const at::Tensor& text, const at::Tensor& labels, double tau);

}  // namespace ovseg::chimera
