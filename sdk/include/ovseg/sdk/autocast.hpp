// Reduced precision as the host runs it (`ovseg eval / sweep / run
// --precision bf16|fp16`, ovseg/host/precision.hpp): the constructor and
// run() of encoder and refinement stages execute under LibTorch's autocast,
// so matrix products and convolutions compute in bf16 / fp16 while the
// weights stay float32, and the host casts what the stage outputs back to
// float32. One place for the autocast calls, whose API differs between
// LibTorch 1.13 (per device type: set_cpu_enabled, set_autocast_cpu_dtype)
// and 2.x (device-generic: set_autocast_enabled(kCPU, ...)).
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>

namespace ovseg {

// "bf16" or "fp16" while autocast is on for `device`'s type on the calling
// thread; "" at full precision. A stage that keeps a result beyond the
// process (clip_text's embeddings cached on disk) keys it by this.
std::string autocast_precision(const c10::Device& device);

// Autocast to `dtype` (at::kBFloat16 or at::kHalf) for `device`'s type on
// this thread until destroyed; the previous state (on or off, its dtype) is
// restored, and the cast cache cleared when the outermost scope ends, as
// torch.autocast's __exit__ does. Not copyable; one thread.
class AutocastScope {
 public:
  AutocastScope(const c10::Device& device, c10::ScalarType dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType type_;
  bool was_enabled_ = false;
  c10::ScalarType previous_dtype_ = c10::ScalarType::Float;
};

}  // namespace ovseg
