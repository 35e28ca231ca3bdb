// A generic LibTorch training loop: AdamW (decoupled weight decay, none on
// gains/biases/embeddings-like vectors), linear warm-up then cosine decay,
// a progress line, atomic checkpoints and exact resume.
//
// A technique that needs training (the embedded CLIP, and later SCHNet,
// Chimera-Seg, ESC-Net and CLIP-RC heads) supplies a TrainTask: its named
// parameters and the loss of step i. The task must draw step i's batch from
// (seed, i) alone, so a resumed run sees exactly the batches the interrupted
// one would have seen.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace ovseg::train {

class TrainTask {
 public:
  virtual ~TrainTask() = default;
  // Leaf tensors to optimise; the trainer sets requires_grad on them. Names
  // are used in checkpoints. 1-D tensors and scalars get no weight decay.
  virtual std::vector<std::pair<std::string, at::Tensor>> parameters() = 0;
  // Scalar loss of optimisation step `step` (0-based).
  virtual at::Tensor loss(int64_t step) = 0;
  // Called after each optimiser step (e.g. to clamp a temperature).
  virtual void after_step(int64_t step) {}
};

struct TrainOptions {
  int64_t steps = 1000;
  double lr = 1e-3;
  double weight_decay = 0.1;
  double beta1 = 0.9, beta2 = 0.98, eps = 1e-6;  // CLIP's AdamW settings
  double warmup_fraction = 0.05;                 // of steps, linear from 0
  double final_lr_fraction = 0.0;                // cosine ends at lr * this
  double grad_clip_norm = 0.0;                   // 0 = off
  std::string checkpoint_dir;                    // empty = no checkpoints
  int64_t checkpoint_every = 200;                // steps
  bool resume = true;                            // continue from checkpoint_dir
  int64_t log_every = 10;                        // progress line refresh
  std::ostream* progress = nullptr;              // e.g. &std::cerr; null = silent
};

struct TrainResult {
  int64_t start_step = 0;       // > 0 when resumed
  std::vector<float> losses;    // per step run in this call
  double seconds = 0;
  double first_loss() const { return losses.empty() ? 0 : losses.front(); }
  // Mean loss over the last `n` steps run in this call.
  double recent_loss(size_t n = 20) const;
};

// The learning rate of `step` under the options' schedule.
double scheduled_lr(const TrainOptions& options, int64_t step);

TrainResult train(TrainTask& task, const TrainOptions& options);

}  // namespace ovseg::train
