#pragma once
// Shared helpers of the SAM tests: the fixture folder, the random parity
// checkpoints (written to disk, loaded back through the real loader), and a
// closeness check that reports max |diff| and max |diff| / max |reference|.
#include <ovseg/models/checkpoint_io.hpp>
#include <ovseg/models/random_sam.hpp>
#include <ovseg/models/sam_model.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "ovseg/sdk/npy.hpp"

namespace sam_test {

namespace fs = std::filesystem;

inline const std::string kData = OVSEG_SOURCE_DIR "/tests/sam/data/";

inline at::Tensor fixture(const std::string& name) { return ovseg::read_npy(kData + name + ".npy"); }

// A random checkpoint of a preset (seed 2024) in the official layout, saved
// as a PyTorch zip state dict and loaded back with SamModel::load. With
// OVSEG_SAM_PARITY_DIR=DIR the file is kept as DIR/parity_<preset>.pth for the
// reference code to load once (how the fixtures were made); otherwise it is a
// temporary file removed at exit.
struct ParityModel {
  std::string path;
  bool keep = false;
  std::shared_ptr<ovseg::models::SamModel> model;
  explicit ParityModel(const std::string& preset) {
    const auto sd = ovseg::models::make_random_sam_state_dict(ovseg::models::sam_geometry_preset(preset), 2024);
    const char* dir = std::getenv("OVSEG_SAM_PARITY_DIR");
    keep = dir && *dir;
    path = keep ? (fs::path(dir) / ("parity_" + preset + ".pth")).string()
                : (fs::temp_directory_path() /
                   ("ovseg_sam_parity_" + preset + "_" + std::to_string(::getpid()) + ".pth"))
                      .string();
    ovseg::models::save_state_dict_zip(path, sd);
    model = ovseg::models::SamModel::load(path);
  }
  ~ParityModel() {
    std::error_code ec;
    if (!keep) fs::remove(path, ec);
  }
};

inline const ParityModel& vit_test_model() {
  static const ParityModel m("vit_test");
  return m;
}
inline const ParityModel& vit_1024_test_model() {
  static const ParityModel m("vit_1024_test");
  return m;
}
inline const ParityModel& tiny_vit_test_model() {
  static const ParityModel m("tiny_vit_test");
  return m;
}

struct Closeness {
  double max_abs = 0, max_rel = 0;  // max |a-b|, and that over max |b|
};

inline Closeness closeness(const at::Tensor& ours, const at::Tensor& ref) {
  const at::Tensor a = ours.to(at::kCPU, at::kDouble), b = ref.to(at::kCPU, at::kDouble);
  Closeness c;
  c.max_abs = (a - b).abs().max().item<double>();
  const double scale = b.abs().max().item<double>();
  c.max_rel = scale > 0 ? c.max_abs / scale : c.max_abs;
  return c;
}

// The message of what `f` throws ("" when it does not).
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace sam_test

// Reports both figures and checks the bound (max |diff| / max |ref| <= 1e-5).
#define SAM_CHECK_CLOSE(ours, ref, what)                                                                      \
  do {                                                                                                        \
    const at::Tensor sam_ours_ = (ours), sam_ref_ = (ref);                                                    \
    REQUIRE(sam_ours_.sizes() == sam_ref_.sizes());                                                           \
    const auto sam_c_ = sam_test::closeness(sam_ours_, sam_ref_);                                             \
    const std::string sam_what_ = (what);                                                                     \
    MESSAGE(sam_what_ << ": max |diff| " << sam_c_.max_abs << ", max |diff| / max |ref| " << sam_c_.max_rel); \
    CHECK(sam_c_.max_rel <= 1e-5);                                                                            \
  } while (0)
