#include "ovseg/sdk/memory_meter.hpp"

#include <c10/core/Allocator.h>
#include <c10/util/ThreadLocalDebugInfo.h>
#include <torch/version.h>  // macros only: which reportMemoryUsage() signature

#include <algorithm>
#include <atomic>

namespace ovseg {

// LibTorch 2.x passes the allocator's totals as size_t, 1.13 as int64_t.
#if TORCH_VERSION_MAJOR >= 2
using AllocatorTotal = size_t;
#else
using AllocatorTotal = int64_t;
#endif

struct TensorMemoryMeter::State : public c10::MemoryReportingInfoBase {
  std::atomic<int64_t> current{0}, peak{0};
  // The meter (or profiler) this one started inside: it sees the same
  // allocations, so a meter in the harness (WindowBatcher's) leaves a
  // benchmark's meter around it intact. It outlives this one (scoped).
  c10::MemoryReportingInfoBase* outer = nullptr;
  void reportMemoryUsage(void* ptr, int64_t alloc_size, AllocatorTotal total_allocated, AllocatorTotal total_reserved,
                         c10::Device device) override {
    const int64_t now = current += alloc_size;
    int64_t p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {
    }
    if (outer != nullptr && outer->memoryProfilingEnabled())
      outer->reportMemoryUsage(ptr, alloc_size, total_allocated, total_reserved, device);
  }
  bool memoryProfilingEnabled() const override { return true; }
};

struct MeterGuard {
  c10::DebugInfoGuard guard;
  explicit MeterGuard(std::shared_ptr<c10::DebugInfoBase> info)
      : guard(c10::DebugInfoKind::PROFILER_STATE, std::move(info)) {}
};

TensorMemoryMeter::TensorMemoryMeter() : state_(std::make_shared<State>()) {
  state_->outer = dynamic_cast<c10::MemoryReportingInfoBase*>(
      c10::ThreadLocalDebugInfo::get(c10::DebugInfoKind::PROFILER_STATE));
  guard_ = std::make_unique<MeterGuard>(state_);
}

TensorMemoryMeter::~TensorMemoryMeter() = default;

int64_t TensorMemoryMeter::peak_bytes() const { return state_->peak.load(); }
int64_t TensorMemoryMeter::current_bytes() const { return state_->current.load(); }

}  // namespace ovseg
