// `--precision fp32|bf16|fp16` for `ovseg eval`, `sweep` and `run`: the
// encoder and refinement stages (CLIP's image and text towers, the
// last-block read-outs, SAM's image encoder) run under LibTorch's autocast
// in bf16 or fp16, as torch.autocast would run them in Python; their outputs
// are cast back to float32 at the node boundary, so fusion, postprocessing
// (PAMR, DenseCRF), stitching, the argmax and the metrics stay float32.
// Which stages: StageCapabilities::precision (ovseg/sdk/stage_capabilities.hpp),
// by default their kind. Training (`ovseg train`) runs float32.
#pragma once

#include <string>

namespace ovseg {

struct PluginDescriptor;

enum class Precision { fp32, bf16, fp16 };

// "fp32", "bf16" or "fp16"; anything else throws std::invalid_argument
// naming the value and the choices.
Precision parse_precision(const std::string& text);
std::string to_string(Precision p);

// Throws std::invalid_argument naming the device and the fix when `device`
// cannot run `p`: fp16 on the CPU with LibTorch 1.x, whose CPU autocast
// knows only bf16 (2.x runs fp16 on the CPU, slowly).
void check_precision_device(Precision p, const std::string& device);

// Whether a stage of this plugin runs under reduced precision when the run's
// precision is bf16 / fp16: its declared policy, else its kind (encoders and
// refinements do; fusion and postprocess stages stay float32).
bool runs_in_reduced_precision(const PluginDescriptor& d);

}  // namespace ovseg
