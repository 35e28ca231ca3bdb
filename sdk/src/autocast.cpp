#include "ovseg/sdk/autocast.hpp"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <stdexcept>

namespace ovseg {

namespace {

// LibTorch 1.13 has one setter per device type; 2.x one that takes it. Only
// CPU and CUDA are wired here: the devices ovseg runs on.
bool autocast_enabled(c10::DeviceType type) {
#if TORCH_VERSION_MAJOR >= 2
  return at::autocast::is_autocast_enabled(type);
#else
  return type == c10::DeviceType::CUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

void set_autocast_enabled(c10::DeviceType type, bool enabled) {
#if TORCH_VERSION_MAJOR >= 2
  at::autocast::set_autocast_enabled(type, enabled);
#else
  if (type == c10::DeviceType::CUDA)
    at::autocast::set_enabled(enabled);
  else
    at::autocast::set_cpu_enabled(enabled);
#endif
}

c10::ScalarType autocast_dtype(c10::DeviceType type) {
#if TORCH_VERSION_MAJOR >= 2
  return at::autocast::get_autocast_dtype(type);
#else
  return type == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype()
                                       : at::autocast::get_autocast_cpu_dtype();
#endif
}

void set_autocast_dtype(c10::DeviceType type, c10::ScalarType dtype) {
#if TORCH_VERSION_MAJOR >= 2
  at::autocast::set_autocast_dtype(type, dtype);
#else
  if (type == c10::DeviceType::CUDA)
    at::autocast::set_autocast_gpu_dtype(dtype);
  else
    at::autocast::set_autocast_cpu_dtype(dtype);
#endif
}

c10::DeviceType autocast_type(const c10::Device& device) {
  if (device.is_cuda()) return c10::DeviceType::CUDA;
  if (device.is_cpu()) return c10::DeviceType::CPU;
  throw std::invalid_argument("reduced precision (autocast) is wired for cpu and cuda only, not device '" +
                              device.str() + "'");
}

}  // namespace

std::string autocast_precision(const c10::Device& device) {
  const c10::DeviceType type = device.is_cuda() ? c10::DeviceType::CUDA : c10::DeviceType::CPU;
  if (!autocast_enabled(type)) return "";
  const c10::ScalarType dtype = autocast_dtype(type);
  return dtype == c10::ScalarType::BFloat16 ? "bf16" : dtype == c10::ScalarType::Half ? "fp16" : "";
}

AutocastScope::AutocastScope(const c10::Device& device, c10::ScalarType dtype) : type_(autocast_type(device)) {
  was_enabled_ = autocast_enabled(type_);
  previous_dtype_ = autocast_dtype(type_);
  set_autocast_dtype(type_, dtype);
  set_autocast_enabled(type_, true);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  // Cached casts are of leaf tensors that require grad (training weights):
  // dropped when the outermost scope ends, as torch.autocast does.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast_enabled(type_, was_enabled_);
  set_autocast_dtype(type_, previous_dtype_);
}

}  // namespace ovseg
