// Batching windows across images (issue 21): the window phase of the
// protocol (ProtocolRunner: every node up to the [outputs] logits, on the
// window crops) runs on batches filled with the windows of several images,
// in order, crossing image boundaries; an image's windows may be split over
// two batches. Every window of one protocol has the same size (except where
// an image is smaller than the window: a batch then ends where the crop size
// changes). When all of an image's windows have run, the image is finished
// as ProtocolRunner::predict finishes it (stitching, image phase, labels).
//
// Results are those of predict(), image by image: a window's result depends
// on its crop alone, up to float rounding (BLAS may sum a matrix product's
// rows in another order when the batch has another number of rows, as it
// already may between two windows of one batch; measured 3.5e-7 of the
// largest logit). tests/eval/test_window_batcher.cpp compares labels and
// logits with predict() for several image sizes and limits. Pipelines whose
// window-phase values cannot be shared between images
// (ProtocolRunner::batches_across_images(): ground truth in the window
// phase, per-image values read after it) run one image per batch, exactly
// as predict().
//
// Limits of a batch, both applying:
//   windows    at most this many windows; 0 = one image's windows per batch
//              (all of them: predict()'s batches, the reference)
//   memory_mb  at most about this many MB of tensors allocated by the
//              window phase of one batch, from the last batch's measured
//              peak (TensorMemoryMeter) per window; the first batch is one
//              window, so nothing is guessed before a measurement (one
//              image's windows of CAT-Seg on the CPU took 16 GB); 0 = no
//              cap. A batch has at least one window, whatever the cap.
#pragma once

#include <deque>
#include <optional>
#include <vector>

#include "ovseg/host/batch_limits.hpp"
#include "ovseg/host/inference.hpp"

namespace ovseg {

class WindowBatcher {
 public:
  // `runner` must outlive this.
  WindowBatcher(ProtocolRunner& runner, BatchLimits limits);

  // Queues one image (preprocess_image's (1,3,H,W)) with its label size and,
  // for graphs that read it, its ground truth; runs every batch that is
  // full. Returns the predictions of the images finished meanwhile, in the
  // order they were added (possibly none).
  std::vector<Prediction> add(const at::Tensor& image, int label_h, int label_w,
                              const ProtocolRunner::Truth* truth = nullptr);
  // Runs what is still queued; returns the remaining predictions in order.
  std::vector<Prediction> flush();

  struct Stats {
    bool across_images = false;  // batches_across_images() and windows != 0
    long batches = 0;
    long windows = 0;
    int largest_batch = 0;            // windows
    double window_phase_peak_mb = 0;  // the largest batch peak measured
    double mb_per_window = 0;         // the last batch's peak / its windows
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Pending {
    at::Tensor image;
    std::vector<Window> windows;
    int label_h = 0, label_w = 0;
    std::optional<ProtocolRunner::Truth> truth;
    size_t next = 0;                  // windows handed to batches so far
    std::vector<at::Tensor> outputs;  // their window-phase outputs, in window order
    size_t done = 0;                  // windows whose outputs are in
    std::vector<NodeTiming> timings;  // the image's share of each batch's node times
  };
  ProtocolRunner& runner_;
  BatchLimits limits_;
  std::deque<Pending> queue_;
  size_t waiting_ = 0;  // queued windows not yet in a batch
  double bytes_per_window_ = 0;
  Stats stats_;

  size_t batch_windows() const;
  bool batch_ready() const;
  void run_batch(std::vector<Prediction>& finished);
};

}  // namespace ovseg
