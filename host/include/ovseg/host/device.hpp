// Device strings: "cpu", "cuda", "cuda:N". Asking for CUDA from a LibTorch
// built without it is a clear error, not a crash deep in a kernel.
#pragma once

#include <c10/core/Device.h>
#include <nlohmann/json_fwd.hpp>

#include <string>

namespace ovseg {

c10::Device parse_device(const std::string& text);
bool cuda_available();
std::string device_summary();  // one line: LibTorch version, CUDA devices

// The device a command runs on when --device is not given: "cuda" when this
// LibTorch has CUDA and a GPU is visible, "cpu" otherwise.
std::string default_device();

// What every eval / train record stores under "device": the device string,
// its kind, threads, and the versions a result depends on: LibTorch, the CUDA
// runtime and cuDNN it was built with (null without CUDA), the GPU's name and
// the NVIDIA driver's version (null on the CPU, or when NVML cannot be read).
nlohmann::json device_record(const std::string& device);

}  // namespace ovseg
