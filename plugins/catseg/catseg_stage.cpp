// catseg: CAT-Seg ("CAT-Seg: Cost Aggregation for Open-Vocabulary Semantic
// Segmentation", Cho et al., CVPR 2024; code cvlab-kaist/CAT-Seg, MIT) as
// one fusion stage, image + class names -> per-class logits, because the
// method is one module in the authors' code too: CATSeg.forward runs its own
// CLIP (image *and* text towers, both fine-tuned) into the aggregator.
//   image -> CLIP normalisation -> bilinear resize to clip_resolution ->
//   dense CLIP forward (catseg_clip) -> res3 = dense features, res4 / res5 =
//   upsample1 / upsample2 (transposed convs x2, x4) of two blocks' outputs;
//   class names -> "A photo of a {} in the scene" (first synonym) -> CLIP
//   text tower -> L2-normalised (B, K, 1, embed);
//   Aggregator (catseg_aggregator) -> logits (B, K, 4h, 4w).
// Under `ovseg eval` / `run` the output is sigmoid(logits) as the authors'
// inference returns it (windows are then averaged as probabilities, as
// their sliding-window inference does); under training the raw logits for
// the BCE loss.
// Tensor names are the authors' (clip_model.*, transformer.*, upsample1/2.*),
// and `checkpoint` reads a released detectron2 file ({"model": state_dict},
// sem_seg_head.predictor.{clip_model,transformer}.*, upsample{1,2}.*).
#include "catseg_stage.hpp"

OVSEG_REGISTER_PLUGIN(ovseg::catseg::CatSeg);
