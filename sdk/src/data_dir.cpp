// See <ovseg/sdk/data_dir.hpp>.
#include "ovseg/sdk/data_dir.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <vector>

namespace fs = std::filesystem;

namespace ovseg {

namespace {

// <folder of `file`>/../share/ovseg, normalised; "" when `file` is unknown.
std::string share_dir_beside(const fs::path& file) {
  if (file.empty()) return "";
  return (file.parent_path() / ".." / "share" / "ovseg").lexically_normal().string();
}

fs::path executable_path() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : p;
}

fs::path sdk_library_path() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&data_dir), &info) == 0 || info.dli_fname == nullptr) return {};
  std::error_code ec;
  fs::path p = fs::canonical(info.dli_fname, ec);
  return ec ? fs::path() : p;
}

}  // namespace

std::string data_dir() {
  if (const char* env = std::getenv("OVSEG_DATA_DIR"); env != nullptr && *env != '\0') {
    std::error_code ec;
    if (!fs::is_directory(env, ec))
      throw std::runtime_error(std::string("OVSEG_DATA_DIR names ") + env +
                               ", which is not a folder -- fix: point it at a folder holding pipelines/ and "
                               "host/models/embedded/ (an install's share/ovseg, or the source tree), or unset it");
    return fs::absolute(env).lexically_normal().string();
  }
  std::vector<std::string> looked;
  for (const fs::path& anchor : {executable_path(), sdk_library_path()}) {
    const std::string candidate = share_dir_beside(anchor);
    if (candidate.empty()) continue;
    std::error_code ec;
    if (fs::is_directory(candidate, ec)) return candidate;
    looked.push_back(candidate);
  }
  std::string where;
  for (const auto& l : looked) where += (where.empty() ? "" : ", ") + l;
  throw std::runtime_error("ovseg's data folder was not found (looked in: " + where +
                           ") -- fix: build the ovseg_data target (the build copies it to share/ovseg), install "
                           "ovseg, or set OVSEG_DATA_DIR (the source tree works)");
}

std::string data_path(const std::string& relative) { return (fs::path(data_dir()) / relative).string(); }

}  // namespace ovseg
