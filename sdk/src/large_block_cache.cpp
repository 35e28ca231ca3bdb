// A CPU allocator that keeps freed large blocks for reuse.
//
// Why: glibc serves blocks over its mmap threshold (32 MiB at most) with fresh
// mmap()s and unmaps them on free, so every large tensor is page-faulted anew.
// On the VMs we run on a fault costs ~15 us per 4 KiB page: filling a fresh
// 180 MB tensor took 672 ms, the same tensor reused 8 ms; upsampling a
// window batch's 112-class logits to 224x224 took 755 ms fresh, 74 ms into
// reused memory. The harness's per-image tensors (window logits, stitched
// canvas, label-size scores) are exactly such blocks, different in size from
// image to image, so freed ones are kept and the smallest that fits (up to
// twice the request) is handed out again. Blocks below the threshold stay
// with the default allocator (glibc's heap keeps those; see runtime.cpp).
#include "large_block_cache.hpp"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/alignment.h>
#include <torch/version.h>  // macros only: which Allocator interface to implement

#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>

// LibTorch 2.x made Allocator::allocate() non-const and added the pure
// copy_data(); 1.13 (Debian, the default build) has the const allocate() only.
#if TORCH_VERSION_MAJOR >= 2
#define OVSEG_ALLOCATE_CONST
#else
#define OVSEG_ALLOCATE_CONST const
#endif

namespace ovseg::detail {
namespace {

constexpr size_t kLarge = size_t{32} << 20;  // glibc's largest mmap threshold

class LargeBlockCache final : public c10::Allocator {
 public:
  LargeBlockCache(c10::Allocator* fallback, size_t max_cached) : fallback_(fallback), max_cached_(max_cached) {}

  c10::DataPtr allocate(size_t n) OVSEG_ALLOCATE_CONST override {
    if (n < kLarge) return fallback_->allocate(n);
    size_t held = n;
    void* p = take(n, held);
    // Memory profiling (torch.profiler, ovseg::TensorMemoryMeter) sees the
    // blocks this cache hands out as it sees the default allocator's, at
    // the size release() reports (a reused block may be up to 2n): counting
    // n here made every reuse look like a free of the difference, so a
    // meter's running sum drifted below what was live.
    if (c10::memoryProfilingEnabled())
      c10::reportMemoryUsageToProfiler(p, static_cast<int64_t>(held), 0, 0, c10::Device(c10::DeviceType::CPU));
    return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }
#if TORCH_VERSION_MAJOR >= 2
  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }
#endif

  static LargeBlockCache* instance;

 private:
  // A block of at least n bytes; `held` = its size.
  void* take(size_t n, size_t& held) const {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.lower_bound(n);
      if (it != free_.end() && it->first <= 2 * n) {
        void* p = it->second;
        held = it->first;
        cached_ -= it->first;
        free_.erase(it);
        return p;
      }
    }
    void* p = nullptr;
    if (posix_memalign(&p, c10::gAlignment, n) != 0 || p == nullptr) {
      trim();  // give the cached blocks back and try once more
      if (posix_memalign(&p, c10::gAlignment, n) != 0 || p == nullptr) throw std::bad_alloc();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    size_of_[p] = n;
    return p;
  }

  // Also raw_deleter(): raw_allocate() of a small block comes from the
  // fallback, so pointers this cache does not know go back to it.
  static void release(void* p) {
    LargeBlockCache& self = *instance;
    std::unique_lock<std::mutex> lock(self.mutex_);
    auto known = self.size_of_.find(p);
    if (known == self.size_of_.end()) {
      lock.unlock();
      self.fallback_->raw_deleter()(p);
      return;
    }
    const size_t n = known->second;
    if (c10::memoryProfilingEnabled())
      c10::reportMemoryUsageToProfiler(p, -static_cast<int64_t>(n), 0, 0, c10::Device(c10::DeviceType::CPU));
    if (self.cached_ + n > self.max_cached_) {
      self.size_of_.erase(p);
      std::free(p);
      return;
    }
    self.free_.emplace(n, p);
    self.cached_ += n;
  }

  void trim() const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [n, p] : free_) {
      size_of_.erase(p);
      std::free(p);
    }
    free_.clear();
    cached_ = 0;
  }

  c10::Allocator* fallback_;
  size_t max_cached_;
  mutable std::mutex mutex_;
  mutable std::multimap<size_t, void*> free_;          // cached blocks by size
  mutable std::unordered_map<void*, size_t> size_of_;  // every large block handed out or cached
  mutable size_t cached_ = 0;
};

LargeBlockCache* LargeBlockCache::instance = nullptr;

}  // namespace

void install_large_block_cache(size_t max_cached_bytes) {
  if (LargeBlockCache::instance || max_cached_bytes == 0) return;
  // Never destroyed: tensors may be freed during static destruction.
  LargeBlockCache::instance = new LargeBlockCache(c10::GetDefaultCPUAllocator(), max_cached_bytes);
  c10::SetCPUAllocator(LargeBlockCache::instance, /*priority=*/1);
}

}  // namespace ovseg::detail
