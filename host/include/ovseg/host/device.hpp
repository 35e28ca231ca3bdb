// Device strings: "cpu", "cuda", "cuda:N". Asking for CUDA from a LibTorch
// built without it is a clear error, not a crash deep in a kernel.
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace ovseg {

c10::Device parse_device(const std::string& text);
bool cuda_available();
std::string device_summary();  // one line: LibTorch version, CUDA devices

}  // namespace ovseg
