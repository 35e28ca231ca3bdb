#include "ovseg/host/precision.hpp"

#include <torch/version.h>

#include <stdexcept>

#include "ovseg/host/device.hpp"
#include "ovseg/sdk/plugin.hpp"
#include "ovseg/sdk/stage_capabilities.hpp"

namespace ovseg {

Precision parse_precision(const std::string& text) {
  if (text == "fp32") return Precision::fp32;
  if (text == "bf16") return Precision::bf16;
  if (text == "fp16") return Precision::fp16;
  throw std::invalid_argument("--precision '" + text + "' is not one of fp32, bf16, fp16");
}

std::string to_string(Precision p) {
  switch (p) {
    case Precision::fp32: return "fp32";
    case Precision::bf16: return "bf16";
    case Precision::fp16: return "fp16";
  }
  return "fp32";
}

void check_precision_device(Precision p, const std::string& device) {
#if TORCH_VERSION_MAJOR < 2
  // LibTorch 1.13's CPU autocast casts to bf16 only: with fp16 its matrix
  // products would fail in the first stage ("not implemented for 'Half'").
  if (p == Precision::fp16 && parse_device(device).is_cpu())
    throw std::invalid_argument("--precision fp16 on device '" + device +
                                "': LibTorch " TORCH_VERSION
                                "'s CPU autocast supports only bf16 -- fix: use --precision bf16 on the CPU, "
                                "or fp16 on a GPU (--device cuda)");
#else
  (void)p;
  (void)device;
#endif
}

bool runs_in_reduced_precision(const PluginDescriptor& d) {
  switch (capabilities_of(d.name).precision) {
    case PrecisionPolicy::Full: return false;
    case PrecisionPolicy::Reduced: return true;
    case PrecisionPolicy::ByKind: break;
  }
  return d.kind == StageKind::Encoder || d.kind == StageKind::Refinement;
}

}  // namespace ovseg
