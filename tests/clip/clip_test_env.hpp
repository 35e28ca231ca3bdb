// Shared set-up for the CLIP plugin tests: a private cache folder, the real
// BPE vocabulary from ../shared, and a tiny random checkpoint on disk.
#pragma once

#include <unistd.h>  // getpid: LibTorch 2.x headers no longer bring it
#include <cstdlib>
#include <filesystem>
#include <string>

#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/models/clip_model.hpp"
#include "ovseg/models/random_clip.hpp"

namespace clip_test {

namespace fs = std::filesystem;

struct Env {
  fs::path dir;
  std::string checkpoint;  // tiny random CLIP as a TorchScript archive

  Env() {
    dir = fs::temp_directory_path() / ("ovseg_clip_test_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    setenv("OVSEG_CACHE_DIR", (dir / "cache").c_str(), 1);
    setenv("OVSEG_MODEL_DIR", (dir / "models").c_str(), 1);
    setenv("OVSEG_CLIP_BPE", OVSEG_SHARED_DATA "/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz", 1);
    checkpoint = (dir / "tiny.pt").string();
    if (!fs::exists(checkpoint))
      ovseg::models::save_torchscript_state_dict(
          checkpoint, ovseg::models::make_random_clip_state_dict(ovseg::models::clip_geometry_preset("tiny"), 7));
  }
  // Every doctest case is its own ctest process, so a folder left behind per
  // process piled up hundreds of them in /tmp over a few test runs.
  ~Env() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

inline Env& env() {
  static Env e;
  return e;
}

}  // namespace clip_test
