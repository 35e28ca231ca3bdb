#include "ovseg/host/device.hpp"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "ovseg/sdk/diagnostics.hpp"

namespace ovseg {

bool cuda_available() { return torch::cuda::is_available(); }

c10::Device parse_device(const std::string& text) {
  if (text == "cpu") return c10::Device(c10::kCPU);
  if (text.rfind("cuda", 0) != 0)
    throw Error({}, "", "unknown device '" + text + "'", "use cpu, cuda or cuda:N");
  int index = 0;
  if (text.size() > 4) {
    const std::string rest = text.substr(4);
    bool digits = rest.size() > 1 && rest[0] == ':' &&
                  rest.find_first_not_of("0123456789", 1) == std::string::npos;
    if (!digits) throw Error({}, "", "unknown device '" + text + "'", "use cpu, cuda or cuda:N");
    index = std::stoi(rest.substr(1));
  }
  if (!at::hasCUDA())
    throw Error({}, "", "device '" + text + "' requested but this LibTorch was built without CUDA",
                "use --device cpu, or build against a CUDA LibTorch (README: CUDA)");
  int count = static_cast<int>(torch::cuda::device_count());
  if (index >= count)
    throw Error({}, "", "device '" + text + "' requested but only " + std::to_string(count) +
                            " CUDA device(s) are visible",
                "use cuda:0..cuda:" + std::to_string(std::max(0, count - 1)));
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

std::string device_summary() {
  std::string s = "LibTorch " + std::string(TORCH_VERSION) + ", ";
  if (cuda_available())
    s += std::to_string(torch::cuda::device_count()) + " CUDA device(s)";
  else
    s += "CPU only";
  s += ", " + std::to_string(at::get_num_threads()) + " threads";
  return s;
}

}  // namespace ovseg
