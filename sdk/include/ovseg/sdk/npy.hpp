// NumPy .npy files (format 1.0), so results open with numpy.load().
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace ovseg {

// Writes a contiguous CPU copy of `t` (float32, float64, int64, int32, uint8).
// Writes to a temporary name then renames, so a crash never leaves half a file.
void write_npy(const std::string& path, const at::Tensor& t);

// Reads little-endian, C-order .npy of the same dtypes.
at::Tensor read_npy(const std::string& path);

}  // namespace ovseg
