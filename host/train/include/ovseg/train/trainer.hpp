// A generic LibTorch training loop: AdamW (decoupled weight decay, none on
// gains/biases/embedding-like vectors unless a group says otherwise) with
// per-pattern learning-rate multipliers, linear warm-up then cosine / poly /
// constant, gradient clipping, micro-batch accumulation, a progress line,
// per-step reports (loss terms, lr, gradient norm, peak memory), atomic
// checkpoints and exact resume.
//
// A technique that needs training supplies a TrainTask: its named parameters
// (and buffers) and the loss of step i. The task must draw step i's batch
// from (seed, i) alone, and the trainer seeds LibTorch's generator from
// (seed, i) before each step (dropout, sampling), so a resumed run computes
// exactly what the uninterrupted one would have: bit-identical weights.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace ovseg::train {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

class TrainTask {
 public:
  virtual ~TrainTask() = default;
  // Leaf tensors to optimise; the trainer sets requires_grad on them. Names
  // are used in checkpoints and matched by TrainOptions::groups.
  virtual NamedTensors parameters() = 0;
  // State that changes in training without being optimised (BatchNorm
  // statistics): saved in checkpoints so a resume is exact.
  virtual NamedTensors buffers() { return {}; }
  // Scalar loss of optimisation step `step` (0-based).
  virtual at::Tensor loss(int64_t step) = 0;
  // Micro-batch `micro` of `micros` of step `step` (TrainOptions::accumulate):
  // the trainer back-propagates each divided by `micros`. The default serves
  // tasks without micro-batches (micros == 1 only).
  virtual at::Tensor micro_loss(int64_t step, int64_t micro, int64_t micros);
  // Named terms of the last loss (e.g. {"ce": 0.8, "aux.distill": 0.1}),
  // averaged over micro-batches by the trainer, for the curves.
  virtual std::map<std::string, double> last_terms() { return {}; }
  // Called after each optimiser step (e.g. to clamp a temperature).
  virtual void after_step(int64_t step) {}
};

// Parameters whose name matches `pattern` (glob: '*' any run, '?' one
// character) get lr * lr_mult and, when set, this weight decay. The first
// matching group wins; unmatched parameters use the defaults.
struct ParamGroupRule {
  std::string pattern;
  double lr_mult = 1.0;
  std::optional<double> weight_decay;
};

struct StepReport {
  int64_t step = 0;  // 0-based step just finished
  double loss = 0;   // total, as optimised
  std::map<std::string, double> terms;
  double lr = 0;              // base learning rate of this step
  double grad_norm = 0;       // total 2-norm before clipping
  double peak_memory_mb = 0;  // peak resident (CPU) or allocated (CUDA) memory in the step
  double seconds = 0;         // wall time of the step
};

struct TrainOptions {
  int64_t steps = 1000;
  double lr = 1e-3;
  double weight_decay = 0.1;
  double beta1 = 0.9, beta2 = 0.98, eps = 1e-6;  // CLIP's AdamW settings
  std::string schedule = "cosine";               // cosine | poly | constant (after warm-up)
  double warmup_fraction = 0.05;                 // of steps, linear from 0 (when warmup_steps < 0)
  int64_t warmup_steps = -1;                     // >= 0 overrides warmup_fraction
  double final_lr_fraction = 0.0;                // cosine / poly end at lr * this
  double poly_power = 0.9;                       // mmseg's PolyLR default
  double grad_clip_norm = 0.0;                   // 0 = off
  int64_t accumulate = 1;                        // micro-batches per step
  uint64_t seed = 0;                             // per-step generator seed
  std::vector<ParamGroupRule> groups;
  // Everything that defines the run besides these options (task settings,
  // pipeline, data), as "key=value" lines. The trainer appends every option
  // above that changes the weights (optimisation_fingerprint), so no caller
  // can forget one; a checkpoint written under another fingerprint is
  // refused, listing each differing key with both values.
  std::string fingerprint;
  // The fix that refusal suggests, in the caller's terms (e.g. "--force").
  std::string restart_hint = "delete the checkpoint, or use another checkpoint folder";
  std::string checkpoint_dir;                      // empty = no checkpoints
  int64_t checkpoint_every = 200;                  // steps
  bool resume = true;                              // continue from checkpoint_dir
  int64_t log_every = 10;                          // progress line refresh
  std::ostream* progress = nullptr;                // e.g. &std::cerr; null = silent
  std::function<void(const StepReport&)> on_step;  // after every step
  // Data-parallel runs (distributed.hpp): after each step's backward, before
  // clipping, every trainable parameter's gradient (zeros where none) is
  // handed to sync_gradients, and the step's loss and terms to
  // average_scalar; only the rank that writes checkpoints has write_checkpoints.
  std::function<void(const std::vector<at::Tensor>& grads)> sync_gradients;
  std::function<double(double)> average_scalar;
  bool write_checkpoints = true;
  // Test hook: after this many steps of this call (and their checkpoint),
  // the process SIGKILLs itself, as a crash or `kill -9` would.
  int64_t kill_after = -1;
};

struct TrainResult {
  int64_t start_step = 0;     // > 0 when resumed
  std::vector<float> losses;  // per step run in this call
  double seconds = 0;
  double peak_memory_mb = 0;  // largest per-step peak of this call
  double first_loss() const { return losses.empty() ? 0 : losses.front(); }
  // Mean loss over the last `n` steps run in this call.
  double recent_loss(size_t n = 20) const;
};

// The options that change the weights (steps, lr, weight decay, betas, eps,
// schedule, warm-up, final lr, poly power, clipping, accumulation, seed,
// groups) as "key=value" lines: part of every checkpoint's fingerprint.
std::string optimisation_fingerprint(const TrainOptions& options);

// Each key whose value differs between two "key=value" fingerprints, as
// "key: checkpoint has V1, this run has V2" joined by "; " (a missing key
// shows as "(absent)"); empty when they are equal.
std::string fingerprint_differences(const std::string& stored, const std::string& current);

// The learning rate of `step` under the options' schedule.
double scheduled_lr(const TrainOptions& options, int64_t step);

TrainResult train(TrainTask& task, const TrainOptions& options);

// Peak memory since the last reset, in MiB: the process's peak resident set
// (VmHWM, reset through /proc/self/clear_refs) on the CPU, the caching
// allocator's peak on CUDA. Exposed for tools that measure steps themselves.
void reset_peak_memory(bool cuda);
double peak_memory_mb(bool cuda);

}  // namespace ovseg::train
