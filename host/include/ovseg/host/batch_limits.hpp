// How many windows the evaluation harness runs through the window phase at
// once, across images (WindowBatcher, window_batcher.hpp). Kept apart from
// that header so that option parsers need no LibTorch headers.
#pragma once

namespace ovseg {

struct BatchLimits {
  // Defaults measured on the 2-core build machine (README "Benchmarks",
  // "Batching windows across images").
  static constexpr int kDefaultWindows = 16;
  static constexpr double kDefaultMemoryMb = 512;
  // At most this many windows per batch; 0 = one image's windows per batch
  // (all of them, as ProtocolRunner::predict: the reference).
  int windows = kDefaultWindows;
  // At most about this many MB of tensors allocated by one batch's window
  // phase (its measured peak per window x windows); 0 = no cap.
  double memory_mb = kDefaultMemoryMb;
};

}  // namespace ovseg
