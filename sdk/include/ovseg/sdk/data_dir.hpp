// Where ovseg finds the files it ships: the embedded models
// (host/models/embedded), the pipelines and the demo's spec (pipelines/), the
// published results (results/published), the benchmark class lists
// (host/harness/class_names). The data folder mirrors the source tree's
// layout, so a pipeline's relative paths ("../host/models/embedded/...")
// resolve the same way inside it.
//
// Found relative to the binary, never through a path baked in at build time,
// so a copied or installed build uses its own copy:
//   1. $OVSEG_DATA_DIR, when set (an error if it is not a folder);
//   2. <folder of the running executable>/../share/ovseg (the build tree's
//      bin/ -> share/ovseg, which the build fills; an install's bin/ ->
//      share/ovseg);
//   3. <folder of libovseg_sdk.so>/../share/ovseg (programs outside bin/
//      that link the installed or built libraries).
#pragma once

#include <string>

namespace ovseg {

// The data folder (absolute). Throws naming every place it looked, with the
// fix, when none exists.
std::string data_dir();

// data_dir() / relative; the file need not exist.
std::string data_path(const std::string& relative);

}  // namespace ovseg
