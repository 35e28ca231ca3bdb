// NumPy .npy files (format 1.0), so results open with numpy.load().
#pragma once

#include <ATen/ATen.h>

#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace ovseg {

// Writes a contiguous CPU copy of `t` (float32, float64, int64, int32, uint8).
// Writes to a temporary name then renames, so a crash never leaves half a file.
void write_npy(const std::string& path, const at::Tensor& t);

// A float32 .npy too big to hold at once, written piece by piece: the header
// first, then write() at element offsets in C order, in any order; commit()
// checks every byte is there and renames the temporary file into place (an
// uncommitted writer removes it).
class NpyFloatWriter {
 public:
  NpyFloatWriter(std::string path, std::vector<int64_t> shape);
  ~NpyFloatWriter();
  NpyFloatWriter(const NpyFloatWriter&) = delete;
  NpyFloatWriter& operator=(const NpyFloatWriter&) = delete;
  void write(int64_t element_offset, const at::Tensor& values);
  void commit();

 private:
  std::string path_, tmp_;
  std::unique_ptr<std::ofstream> out_;
  int64_t data_offset_ = 0, numel_ = 0;
  bool committed_ = false;
};

// Reads little-endian, C-order .npy of the same dtypes.
at::Tensor read_npy(const std::string& path);

}  // namespace ovseg
