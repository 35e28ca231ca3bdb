// The [train] table of a pipeline: how `ovseg train` trains the graph.
// Every key has a default; `--set train.KEY=VALUE` overrides one.
//
//   [train]
//   steps = 1000              optimiser steps
//   batch = 8                 images per step
//   accumulate = 1            micro-batches per step (batch / accumulate each;
//                             gradients summed: less memory, same update)
//   lr = 1e-4                 base learning rate (AdamW)
//   weight_decay = 0.01       decoupled; vectors (biases, norms) get none
//   betas = [0.9, 0.999]      AdamW
//   eps = 1e-8
//   schedule = "cosine"       after warm-up: cosine | poly | constant
//   warmup_steps = 0          linear warm-up from 0
//   final_lr_fraction = 0.0   where cosine / poly end, as a fraction of lr
//   poly_power = 0.9
//   grad_clip = 0.0           total 2-norm clipping (0 = off; CAT-Seg 0.01)
//   seed = 0                  batches, augmentation and LibTorch's generator
//   split = "train"           data-set split to train on
//   val_split = "val"         periodic evaluation (under the pipeline's [protocol])
//   val_images = 50           first N images of val_split (0 = no evaluation)
//   eval_every = 0            steps between evaluations (0 = at the end only)
//   checkpoint_every = 100    steps between resumable checkpoints
//   unseen_classes = [...]    zero-shot split; default: the data set's declared
//                             one (harness/zero_shot.hpp); ["none"] = no split
//   cache_mb = 1024           decoded training samples kept in memory
//
//   [train.losses]            weights of a weighted sum; pixel losses on the
//   ce = 1.0                  [outputs] logits: ce, bce, focal, dice,
//                             mask_focal, mask_dice (losses.hpp); and the
//                             auxiliary losses stages emit: "node.name"
//
//   [train.augment]           mmseg's training pipeline (augment.hpp)
//   crop = 512                square crop (the window phase's input size)
//   short_side = 0            RandomResize base short side (0 = the protocol's)
//   max_long_side = 2048
//   ratio_range = [0.5, 2.0]
//   cat_max_ratio = 0.75
//   flip = true
//   photometric = true
//   flip_swap = [14, 15, ...]  class-id pairs exchanged in flipped crops (flat);
//                             absent: the classes named "left X" / "right X"
//
//   [[train.param_groups]]    first match wins; "node.parameter" globs
//   match = "clip.*"
//   lr_mult = 0.01
//   weight_decay = 0.0        optional; default: the recipe's
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ovseg/host/pipeline_spec.hpp"
#include "ovseg/train/augment.hpp"
#include "ovseg/train/trainer.hpp"

namespace ovseg::train {

struct TrainRecipe {
  int64_t steps = 1000;
  int64_t batch = 8;
  int64_t accumulate = 1;
  double lr = 1e-4;
  double weight_decay = 0.01;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  std::string schedule = "cosine";
  int64_t warmup_steps = 0;
  double final_lr_fraction = 0.0;
  double poly_power = 0.9;
  double grad_clip = 0.0;
  uint64_t seed = 0;
  std::string split = "train";
  std::string val_split = "val";
  int64_t val_images = 50;
  int64_t eval_every = 0;
  int64_t checkpoint_every = 100;
  std::optional<std::vector<std::string>> unseen_classes;  // unset = the data set's
  int64_t cache_mb = 1024;
  std::map<std::string, double> losses = {{"ce", 1.0}};
  AugmentOptions augment;
  std::vector<ParamGroupRule> groups;

  // "key=value" lines, one per setting, in a fixed order: the part of the
  // run's fingerprint that comes from the recipe.
  std::string fingerprint() const;
};

// Reads spec.train. Throws ovseg::Error with file:line:column for an unknown
// key (nearest suggested), a wrong type or an out-of-range value. Loss names
// are checked later, against the graph (train_pipeline.hpp).
TrainRecipe parse_train_recipe(const PipelineSpec& spec);

// The keys [train] accepts (without the sub-tables' own keys).
const std::vector<std::string>& train_recipe_keys();

}  // namespace ovseg::train
