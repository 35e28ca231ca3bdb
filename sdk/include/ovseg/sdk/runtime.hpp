// Process-wide LibTorch settings (allocator behaviour, thread counts).
#pragma once

namespace ovseg {

// Applied automatically when libovseg_sdk loads; safe to call again.
//  - glibc keeps freed tensor memory instead of unmapping it, and LibTorch's
//    CPU allocator keeps freed blocks of 32 MiB and more (beyond glibc's
//    reach) for reuse: page faults cost ~15 us per page on our VMs
//    (OVSEG_CPU_CACHE_MB caps the cache, default 2048, 0 = off).
//  - ATen's own parallel loops run on ONE thread (OVSEG_INTRAOP_THREADS or
//    OMP_NUM_THREADS override): OpenBLAS parallelises the matrix products
//    with its own threads, and idle OpenMP workers spin-waiting between
//    ATen's elementwise loops steal its cores. On the 2-core machines the
//    ViT-B/16 tower ran 1.22 images/s with 2 ATen threads and 4.20 with 1.
void configure_runtime();

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
