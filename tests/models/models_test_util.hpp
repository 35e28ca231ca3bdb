#pragma once
// Shared helpers of the model-library tests: a self-deleting temp dir, a
// small multi-head CLIP geometry, and deterministic inputs.
#include <ovseg/models/clip_model.hpp>
#include <ovseg/models/random_clip.hpp>

#include <ATen/CPUGeneratorImpl.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace ovseg_test {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ovseg-models-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Two heads per tower (width 128) so head splitting is exercised; a small
// vocabulary keeps the files small.
inline ovseg::models::ClipGeometry small_geometry() {
  ovseg::models::ClipGeometry g;
  g.vision_width = 128;
  g.vision_layers = 2;
  g.vision_heads = 2;
  g.patch_size = 16;
  g.image_resolution = 64;
  g.embed_dim = 32;
  g.context_length = 77;
  g.vocab_size = 1000;
  g.text_width = 128;
  g.text_heads = 2;
  g.text_layers = 2;
  return g;
}

// (B,3,H,W) normalised-looking pixels.
inline at::Tensor test_pixels(int64_t b, int64_t h, int64_t w, uint64_t seed = 7) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::randn({b, 3, h, w}, gen, at::TensorOptions().dtype(at::kFloat));
}

// CLIP-style rows: start token, a few words, end token (largest id), zeros.
inline at::Tensor test_tokens(int64_t vocab, int64_t context) {
  const std::vector<int64_t> lengths = {5, 12, context};
  auto ids = at::zeros({static_cast<int64_t>(lengths.size()), context}, at::kLong);
  auto acc = ids.accessor<int64_t, 2>();
  uint64_t state = 12345;
  for (size_t r = 0; r < lengths.size(); ++r) {
    acc[r][0] = vocab - 2;  // "start of text"
    for (int64_t j = 1; j < lengths[r] - 1; ++j) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      acc[r][j] = 1 + static_cast<int64_t>((state >> 33) % static_cast<uint64_t>(vocab - 3));
    }
    acc[r][lengths[r] - 1] = vocab - 1;  // "end of text": the largest id
  }
  return ids;
}

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

}  // namespace ovseg_test
