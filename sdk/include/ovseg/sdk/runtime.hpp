// Process-wide LibTorch settings (allocator behaviour, thread counts).
//
// Nothing here runs by itself: loading libovseg_sdk (e.g. a plugin loaded
// into someone else's process) changes nothing. Each of our own binaries
// (the `ovseg` CLI, the test main, the benchmarks) calls init_process()
// first thing in main().
#pragma once

#include <string>

namespace ovseg {

// How many ATen intra-op threads, and why (for records and `ovseg --help`).
struct ThreadPolicy {
  int threads = 0;     // 0 = leave LibTorch's own choice
  std::string reason;  // e.g. "OVSEG_THREADS=4", "2 logical cores: 1 thread (measured)"
};

// The policy for a machine with `logical_cores`, given the values of
// OVSEG_THREADS and OMP_NUM_THREADS (nullptr = unset):
//  - OVSEG_THREADS=N (N >= 1) wins;
//  - else OMP_NUM_THREADS, which LibTorch itself honours, is left alone;
//  - else on machines of up to 2 logical cores ATen gets ONE thread: OpenBLAS
//    parallelises the matrix products with its own threads, and idle OpenMP
//    workers spin-waiting between ATen's elementwise loops steal its cores
//    (measured on the 2-core build machines: README "Performance notes");
//  - else LibTorch's default (one per core) is kept, so a 16-core machine
//    is not held to one core for everything that is not a matrix product.
// A malformed OVSEG_THREADS is ignored with `reason` saying so.
ThreadPolicy choose_thread_policy(const char* ovseg_threads, const char* omp_num_threads, unsigned logical_cores);

// Applies the process settings once (later calls do nothing) and returns
// the thread policy applied:
//  - glibc keeps freed tensor memory instead of unmapping it, and LibTorch's
//    CPU allocator keeps freed blocks of 32 MiB and more (beyond glibc's
//    reach) for reuse: page faults cost ~15 us per page on our VMs
//    (OVSEG_CPU_CACHE_MB caps the cache, default 2048, 0 = off);
//  - the thread policy above.
// Warnings (a malformed variable) go to stderr.
const ThreadPolicy& init_process();

// Whether init_process() has run in this process.
bool process_initialised();
// The applied policy's reason, for run records; says so when init_process()
// was never called (the host runs inside another program).
std::string thread_policy_reason();

// CPU seconds this process has used so far: all threads (OpenBLAS's too),
// user + system. On a shared machine a steadier figure than wall time.
double process_cpu_seconds();

// For a stage whose heavy work is its own at::parallel_for loops (PAMR, the
// CRF's lattice): runs them on every core while the object lives.
class AllCoresScope {
 public:
  AllCoresScope();
  ~AllCoresScope();
  AllCoresScope(const AllCoresScope&) = delete;
  AllCoresScope& operator=(const AllCoresScope&) = delete;

 private:
  int previous_;
};

}  // namespace ovseg
