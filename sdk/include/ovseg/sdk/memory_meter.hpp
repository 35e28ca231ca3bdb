// Peak tensor memory of a piece of code, for benchmarks and reports.
//
// While a TensorMemoryMeter lives, every tensor allocation and free of the
// calling thread is counted: the CPU allocator's (large blocks from the
// reuse cache included) and CUDA's caching allocator's, through LibTorch's
// memory-profiling hook (c10::MemoryReportingInfoBase, what
// torch.profiler(profile_memory=True) uses). peak_bytes() is the largest
// sum of live bytes allocated since the meter started, so memory that was
// live before it started does not count, and freeing it lowers the current
// sum below 0 (the peak never goes below 0). Meters nest: one started
// while another (or a memory profiler) is active passes every allocation
// on to it as well.
#pragma once

#include <cstdint>
#include <memory>

namespace ovseg {

class TensorMemoryMeter {
 public:
  TensorMemoryMeter();
  ~TensorMemoryMeter();
  TensorMemoryMeter(const TensorMemoryMeter&) = delete;
  TensorMemoryMeter& operator=(const TensorMemoryMeter&) = delete;

  int64_t peak_bytes() const;
  int64_t current_bytes() const;
  double peak_mb() const { return static_cast<double>(peak_bytes()) / (1 << 20); }

  struct State;

 private:
  std::shared_ptr<State> state_;
  std::unique_ptr<struct MeterGuard> guard_;
};

}  // namespace ovseg
