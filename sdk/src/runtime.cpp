// Process-wide settings that make Debian's LibTorch fast on small machines;
// applied by init_process(), which each of our binaries calls in main().
#include <ATen/Parallel.h>
#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <ctime>

#include "large_block_cache.hpp"
#include "ovseg/sdk/runtime.hpp"

namespace ovseg {

namespace {

// A positive whole number, or -1.
long positive_number(const char* text) {
  if (text == nullptr || *text == '\0') return -1;
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  return (*end == '\0' && v >= 1) ? v : -1;
}

void configure_allocator() {
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
    else
      std::fprintf(stderr, "ovseg: OVSEG_CPU_CACHE_MB='%s' is not a whole number of MiB (0 = off); using %zu\n", mb,
                   cache_mb);
  }
  detail::install_large_block_cache(cache_mb << 20);
}

ThreadPolicy& applied_policy() {
  static ThreadPolicy policy;
  return policy;
}

std::once_flag& init_once() {
  static std::once_flag flag;
  return flag;
}

bool& initialised() {
  static bool done = false;
  return done;
}

}  // namespace

ThreadPolicy choose_thread_policy(const char* ovseg_threads, const char* omp_num_threads, unsigned logical_cores) {
  std::string ignored;
  if (ovseg_threads != nullptr) {
    const long n = positive_number(ovseg_threads);
    if (n >= 1) return {static_cast<int>(n), "OVSEG_THREADS=" + std::to_string(n)};
    ignored = "OVSEG_THREADS='" + std::string(ovseg_threads) + "' is not a positive whole number (ignored); ";
  }
  if (omp_num_threads != nullptr && *omp_num_threads != '\0')
    return {0, ignored + "OMP_NUM_THREADS=" + std::string(omp_num_threads) + " (LibTorch's own)"};
  if (logical_cores <= 2)
    return {1, ignored + std::to_string(logical_cores) +
                   " logical cores: 1 ATen thread (OpenBLAS keeps the cores; measured, README \"Performance notes\")"};
  return {0, ignored + std::to_string(logical_cores) + " logical cores: LibTorch's default"};
}

const ThreadPolicy& init_process() {
  std::call_once(init_once(), [] {
    configure_allocator();
    ThreadPolicy p = choose_thread_policy(std::getenv("OVSEG_THREADS"), std::getenv("OMP_NUM_THREADS"),
                                          std::thread::hardware_concurrency());
    if (p.reason.rfind("OVSEG_THREADS='", 0) == 0) std::fprintf(stderr, "ovseg: %s\n", p.reason.c_str());
    if (p.threads > 0) at::set_num_threads(p.threads);
    p.threads = at::get_num_threads();
    applied_policy() = p;
    initialised() = true;
  });
  return applied_policy();
}

bool process_initialised() { return initialised(); }

double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

std::string thread_policy_reason() {
  return initialised() ? applied_policy().reason : "init_process() not called: the embedding program's settings";
}

AllCoresScope::AllCoresScope() : previous_(at::get_num_threads()) {
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  if (cores > previous_) at::set_num_threads(cores);
}

AllCoresScope::~AllCoresScope() {
  if (at::get_num_threads() != previous_) at::set_num_threads(previous_);
}

}  // namespace ovseg
