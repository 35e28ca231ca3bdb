// How many windows the evaluation harness runs through the window phase at
// once, across images (WindowBatcher, window_batcher.hpp). Kept apart from
// that header so that option parsers need no LibTorch headers.
#pragma once

#include <string>

namespace ovseg {

struct BatchLimits {
  // Defaults (README "Benchmarks", "Batching windows across images"): on the
  // CPU one image per batch, since batching across images gained nothing on
  // COCO-size images on the idle 2-core machine (0.62 vs 0.61 images/s) and
  // raised the peak resident set by 0.4-0.7 GB; on CUDA 16 windows under a
  // 512 MB cap, an assumption (no GPU was available to measure it).
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
    if (device.rfind("cuda", 0) == 0) b.windows = kDefaultCudaWindows;
    return b;
  }
};

}  // namespace ovseg
