// Process-wide settings that make Debian's LibTorch fast on small machines.
// Runs once when libovseg_sdk is loaded, so the CLI, tests, benchmarks and
// anything else linking the SDK get it without remembering to call it.
#include <ATen/Parallel.h>
#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "large_block_cache.hpp"
#include "ovseg/sdk/runtime.hpp"

namespace ovseg {

void configure_runtime() {
  // glibc serves blocks over 128 KiB with fresh mmap()s and returns them on
  // free, so every activation tensor page-faults anew; on the 2-core VMs we
  // measured, 50 GELU-sized ops (8x197x3072 floats) took 16.5 s that way and
  // 1.4 s with freed memory kept in the heap.
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);  // glibc's maximum on 64-bit; larger is refused
  mallopt(M_TRIM_THRESHOLD, 1 << 30);           // return memory only past 1 GiB free
  mallopt(M_TOP_PAD, 256 * 1024 * 1024);        // grow the heap in big steps
  // Blocks above glibc's largest mmap threshold are kept by LibTorch's CPU
  // allocator instead (large_block_cache.cpp): up to OVSEG_CPU_CACHE_MB
  // (default 2048; 0 = off) of freed ones are reused.
  size_t cache_mb = 2048;
  if (const char* mb = std::getenv("OVSEG_CPU_CACHE_MB")) {
    char* end = nullptr;
    const long v = std::strtol(mb, &end, 10);
    if (end != mb && *end == '\0' && v >= 0)
      cache_mb = static_cast<size_t>(v);
    else  // runs at load time, so a warning rather than an exception
      std::fprintf(stderr, "ovseg: OVSEG_CPU_CACHE_MB='%s' is not a whole number of MiB (0 = off); using %zu\n", mb,
                   cache_mb);
  }
  detail::install_large_block_cache(cache_mb << 20);
  // One ATen intra-op thread unless asked otherwise: see runtime.hpp.
  if (const char* n = std::getenv("OVSEG_INTRAOP_THREADS")) {
    at::set_num_threads(std::max(1, std::atoi(n)));
  } else if (std::getenv("OMP_NUM_THREADS") == nullptr) {
    at::set_num_threads(1);
  }
}

AllCoresScope::AllCoresScope() : previous_(at::get_num_threads()) {
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  if (cores > previous_) at::set_num_threads(cores);
}

AllCoresScope::~AllCoresScope() {
  if (at::get_num_threads() != previous_) at::set_num_threads(previous_);
}

namespace {
const bool kConfigured = (configure_runtime(), true);
}  // namespace

}  // namespace ovseg
