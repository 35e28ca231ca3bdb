#include "ovseg/host/device.hpp"

#include <dlfcn.h>

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <nlohmann/json.hpp>
#include <torch/cuda.h>
#include <torch/version.h>

#ifdef OVSEG_TORCH_HAS_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

#include "ovseg/sdk/diagnostics.hpp"
#include "ovseg/sdk/runtime.hpp"

namespace ovseg {

bool cuda_available() { return torch::cuda::is_available(); }

std::string default_device() { return cuda_available() ? "cuda" : "cpu"; }

c10::Device parse_device(const std::string& text) {
  if (text == "cpu") return c10::Device(c10::kCPU);
  if (text.rfind("cuda", 0) != 0) throw Error({}, "", "unknown device '" + text + "'", "use cpu, cuda or cuda:N");
  int index = 0;
  if (text.size() > 4) {
    const std::string rest = text.substr(4);
    bool digits = rest.size() > 1 && rest[0] == ':' && rest.find_first_not_of("0123456789", 1) == std::string::npos;
    if (!digits) throw Error({}, "", "unknown device '" + text + "'", "use cpu, cuda or cuda:N");
    index = std::stoi(rest.substr(1));
  }
  // hasCUDART: built with CUDA (at::hasCUDA() also wants a visible GPU).
  if (!at::globalContext().hasCUDART())
    throw Error({}, "", "device '" + text + "' requested but this LibTorch was built without CUDA",
                "use --device cpu, or build against a CUDA LibTorch (README: CUDA)");
  int count = static_cast<int>(torch::cuda::device_count());
  if (count == 0)
    throw Error({}, "", "device '" + text + "' requested but no CUDA device is visible to this CUDA LibTorch",
                "use --device cpu on a machine without a GPU");
  if (index >= count)
    throw Error({}, "",
                "device '" + text + "' requested but only " + std::to_string(count) + " CUDA device(s) are visible",
                "use cuda:0..cuda:" + std::to_string(std::max(0, count - 1)));
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

namespace {

// "13000" -> "13.0", "91900" (cuDNN 9.19.0) -> "9.19.0": the encodings of
// CUDART_VERSION (major*1000 + minor*10) and CUDNN_VERSION (major*10000 +
// minor*100 + patch since cuDNN 9; major*1000 + minor*100 + patch before).
std::string cuda_version_text(long v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }
std::string cudnn_version_text(long v) {
  if (v >= 90000)
    return std::to_string(v / 10000) + "." + std::to_string((v % 10000) / 100) + "." + std::to_string(v % 100);
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 100) + "." + std::to_string(v % 100);
}

// The NVIDIA driver's version ("580.159.03") from NVML, opened at run time so
// that no build needs the driver: the CUDA runtime only knows the CUDA API
// level the driver supports, not the driver's own version. "" when absent.
std::string nvidia_driver_version() {
  void* nvml = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!nvml) return "";
  using InitFn = int (*)();
  using VersionFn = int (*)(char*, unsigned);
  auto init = reinterpret_cast<InitFn>(dlsym(nvml, "nvmlInit_v2"));
  auto version = reinterpret_cast<VersionFn>(dlsym(nvml, "nvmlSystemGetDriverVersion"));
  auto shutdown = reinterpret_cast<InitFn>(dlsym(nvml, "nvmlShutdown"));
  std::string out;
  if (init && version && shutdown && init() == 0) {
    char buffer[96] = {};
    if (version(buffer, sizeof(buffer)) == 0) out = buffer;
    shutdown();
  }
  dlclose(nvml);
  return out;
}

}  // namespace

std::string device_summary() {
  std::string s = "LibTorch " + std::string(TORCH_VERSION) + ", ";
  if (cuda_available())
    s += std::to_string(torch::cuda::device_count()) + " CUDA device(s)";
  else
    s += "CPU only";
  s += ", " + std::to_string(at::get_num_threads()) + " threads";
  return s;
}

nlohmann::json device_record(const std::string& device) {
  const c10::Device d = parse_device(device);
  nlohmann::json r = {{"name", device},
                      {"kind", d.is_cuda() ? "cuda" : "cpu"},
                      {"summary", device_summary()},
                      {"threads", at::get_num_threads()},
                      {"thread_policy", thread_policy_reason()},
                      {"libtorch", TORCH_VERSION},
                      {"cuda", nullptr},
                      {"cudnn", nullptr},
                      {"gpu", nullptr},
                      {"driver", nullptr}};
  if (at::globalContext().hasCUDART()) {  // the versions LibTorch was built with, GPU or not
    r["cuda"] = cuda_version_text(at::detail::getCUDAHooks().versionCUDART());
    if (at::globalContext().hasCuDNN()) r["cudnn"] = cudnn_version_text(at::detail::getCUDAHooks().versionCuDNN());
  }
#ifdef OVSEG_TORCH_HAS_CUDA
  if (d.is_cuda()) {
    const int index = d.has_index() ? d.index() : 0;
    r["gpu"] = at::cuda::getDeviceProperties(index)->name;
  }
#endif
  if (d.is_cuda()) {
    const std::string driver = nvidia_driver_version();
    if (!driver.empty()) r["driver"] = driver;
  }
  return r;
}

}  // namespace ovseg
