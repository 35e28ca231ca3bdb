// How many windows the evaluation harness runs through the window phase at
// once, across images (WindowBatcher, window_batcher.hpp). Kept apart from
// that header so that option parsers need no LibTorch headers.
#pragma once

#include <string>

namespace ovseg {

struct BatchLimits {
  // Defaults (README "Benchmarks", "Batching windows across images"): on the
  // CPU at most 8 windows (about one COCO-size image's) under the 512 MB cap:
  // for NACLIP that is one image's batch (batching more across images gained
  // nothing on the idle 2-core machine, 0.62 vs 0.61 images/s, and raised the
  // peak resident set by 0.4-0.7 GB), while CAT-Seg, whose window phase
  // allocates ~1.5 GB per 384 px window, runs one window at a time (one
  // image's 8 windows at once took 16 GB and 1.8x the CPU time, measured).
  // On CUDA 16 windows under the same cap, an assumption (no GPU was
  // available to measure it).
  static constexpr int kDefaultCpuWindows = 8;
  static constexpr int kDefaultCudaWindows = 16;
  static constexpr double kDefaultMemoryMb = 512;
  // At most this many windows per batch; 0 = one image's windows per batch
  // (all of them, as ProtocolRunner::predict: the reference).
  int windows = 0;
  // At most about this many MB of tensors allocated by one batch's window
  // phase (its measured peak per window x windows); 0 = no cap.
  double memory_mb = kDefaultMemoryMb;

  static BatchLimits defaults_for(const std::string& device) {
    BatchLimits b;
    b.windows = device.rfind("cuda", 0) == 0 ? kDefaultCudaWindows : kDefaultCpuWindows;
    return b;
  }
};

}  // namespace ovseg
