#pragma once
// The common currency of the model library: a flat name -> tensor map in the
// layout of the checkpoint it came from, plus the one error type every loader
// throws. Only <ATen/ATen.h> here: this header is included by plugins.

#include <ATen/ATen.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace ovseg::models {

using StateDict = std::map<std::string, at::Tensor>;

// Thrown for every checkpoint problem (missing/truncated/corrupt file, unknown
// format, missing or misshaped tensor). what() always names the file (or the
// source name a state dict was given) and the offending tensor if there is one.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "[1, 2, 3]": used in error messages.
std::string shape_string(at::IntArrayRef shape);

}  // namespace ovseg::models
