// Shared by the benchmarks that report memory beside time: one warm-up call
// (first-touch allocations), one metered call for the peak tensor memory
// (TensorMemoryMeter: everything allocated during it, the output included),
// then the timed iterations. Counters: ms/image, peak_MB, output_MB.
#pragma once

#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include <chrono>

#include "ovseg/sdk/memory_meter.hpp"

template <class F>
void measure_time_and_memory(benchmark::State& state, F&& f) {
  { at::Tensor warm = f(); }
  double peak_mb = 0, out_mb = 0;
  {
    ovseg::TensorMemoryMeter meter;
    at::Tensor y = f();
    peak_mb = meter.peak_mb();
    out_mb = static_cast<double>(y.numel() * y.element_size()) / (1 << 20);
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    at::Tensor y = f();
    benchmark::DoNotOptimize(y.data_ptr());
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  state.counters["ms/image"] = 1e3 * s / static_cast<double>(state.iterations());
  state.counters["peak_MB"] = peak_mb;
  state.counters["output_MB"] = out_mb;
}
