#pragma once
// LoftUp (Huang et al., "LoftUp: Learning a Coordinate-Based Feature Upsampler
// for Vision Foundation Models", 2025): a learned upsampler from a vision
// foundation model's low-resolution features and the image to features at
// image resolution. Re-stated on plain ATen tensors from the authors' released
// code (andrehuang/loftup, MIT: upsamplers/upsamplers.py LoftUp with
// lr_pe_type "sine", UpsamplerwithChannelNorm, upsamplers/layers.py), with the
// same parameter names, so its checkpoints load as they are:
//
//   lr   = ChannelNorm(features)                  LayerNorm over channels
//   kv   = [lr ; sin/cos Fourier features of the low-res (y, x) grid, 5
//           frequencies, learnable phases]        (B, h*w, dim + 20)
//   q    = MinMaxScaler(image) -> sin/cos Fourier features of (y, x, r, g, b)
//          at 20 frequencies exp(linspace(-2, 10)) with learnable phases,
//          plus the scaled image              -> (B, 203, H, W)
//          -> ChannelNorm -> conv3x3 -> BN -> ReLU -> conv3x3 -> BN -> ReLU
//   2 x  q = q + MHA(LN(q), LN(kv), LN(kv))   4 heads, queries = every pixel
//        q = q + FFN(q)                       LN -> Linear -> GELU -> Linear
//   out  = LayerNorm(conv1x1(LN(q)))          (B, dim, H, W)
//
// The released checkpoints are UpsamplerwithChannelNorm state dicts
// (hubconf.py, e.g. loftup_clip: LoftUp(512, lr_pe_type="sine", lr_size=14)
// for CLIP ViT-B/16): "channelnorm.norm.{weight,bias}" and "upsampler.<name>";
// the training checkpoints' layout ({"state_dict": {"model.1.norm.*",
// "upsampler.*", ...}}, load_loftup_checkpoint) is read too.
//
// Memory: every output pixel is a query of the cross-attention, so the
// forward runs in tiles of whole rows (max_tile_bytes of working memory each;
// the 3x3 stem reads 2 halo rows) and writes each tile into the output. The
// image's min/max scaling is computed over the whole batch first, as the
// authors' MinMaxScaler does, so tiling changes no number beyond rounding.
// Training (BatchNorm on batch statistics) runs untiled.

#include <ovseg/models/state_dict.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ovseg::models {

struct LoftUpGeometry {
  int64_t dim = 512;        // low-resolution feature channels = output channels
  int64_t n_freqs = 20;     // image Fourier frequencies (upsampler.fourier_feat.1.biases [2, 5, n])
  int64_t lr_pe_freqs = 5;  // low-res positional-encoding frequencies (upsampler.lr_pe.biases [2, 2, n])
  int64_t layers = 2;       // cross-attention layers (upsampler.ca_transformer.layers.N)
  int64_t heads = 4;        // not in the shapes: LoftUp's num_heads, which hubconf.py never changes

  int64_t lr_pe_dim() const { return 2 * lr_pe_freqs * 2; }
  int64_t width() const { return dim + lr_pe_dim(); }      // attention width: 532 for CLIP
  int64_t stem_in() const { return 5 * n_freqs * 2 + 3; }  // 203
  std::string describe() const;                            // "dim 512, width 532, 2 layers x 4 heads, 20 freqs"
  bool operator==(const LoftUpGeometry& o) const;
};

// "clip" (the released CLIP ViT-B/16 upsampler, dim 512), "dinov2s" (384),
// "dinov2b" / "siglip" (768), "world" (dim 64, the embedded world CLIP's
// embedding). Throws std::invalid_argument on an unknown name.
LoftUpGeometry loftup_geometry_preset(const std::string& name);

// Reads the geometry off the released layout's shapes; heads are given.
// Throws CheckpointError naming `source` when a tensor is missing or a shape
// is inconsistent.
LoftUpGeometry infer_loftup_geometry(const StateDict& sd, const std::string& source, int64_t heads = 4);

// Every key of the released layout with its shape (for checks and writers).
std::vector<std::pair<std::string, std::vector<int64_t>>> loftup_layout(const LoftUpGeometry& g);

// A state dict in the released layout. random = false: PyTorch's default
// initialisation of the authors' modules (what a fresh upsampler trains
// from); random = true: every tensor random, LayerNorm / BatchNorm affines
// and running statistics included, so that a loader that drops or swaps one
// fails a parity test. Deterministic for a seed.
StateDict make_loftup_state_dict(const LoftUpGeometry& g, uint64_t seed, bool random = false);

class LoftUp {
 public:
  // Takes the tensors of a released-layout state dict (float32, on `device`);
  // the Lightning layout's "model.1.norm.*" names are accepted for the
  // channel norm. Throws CheckpointError naming `source` for a missing,
  // misshaped or unexpected tensor.
  LoftUp(const StateDict& sd, const std::string& source, int64_t heads = 4, at::Device device = at::kCPU);
  // Any checkpoint format load_state_dict() reads (the released
  // pytorch_model.bin is a torch.save'd state dict).
  static std::shared_ptr<LoftUp> load(const std::string& path, int64_t heads = 4, at::Device device = at::kCPU);

  const LoftUpGeometry& geometry() const { return g_; }
  at::Device device() const { return device_; }

  // The tensors under their released names, each with whether it is a
  // buffer (BatchNorm running statistics and batch counts). These are the
  // very tensors forward() reads.
  struct Named {
    std::string name;
    at::Tensor tensor;
    bool buffer = false;
  };
  const std::vector<Named>& tensors() const { return named_; }
  StateDict state_dict() const;  // detached copies, released layout

  struct Options {
    int64_t out_h = 0, out_w = 0;                // 0: the image's size; else the image is resized (bilinear) to it
    bool training = false;                       // BatchNorm on batch statistics (updates the running ones); untiled
    int64_t max_tile_bytes = int64_t{64} << 20;  // working memory per row tile; 0: one tile
  };
  // lr: (B, dim, h, w) low-resolution features; image: (B, 3, H, W) (any
  // per-channel affine normalisation: MinMaxScaler removes it). Returns
  // (B, dim, out_h, out_w) float32.
  at::Tensor forward(const at::Tensor& lr, const at::Tensor& image, const Options& o) const;
  at::Tensor forward(const at::Tensor& lr, const at::Tensor& image) const { return forward(lr, image, Options()); }

  // ChannelNorm(lr): the normalised low-resolution features the upsampler
  // attends to (and the space its output lives in).
  at::Tensor channel_norm(const at::Tensor& lr) const;

  // Rows per tile forward() uses for an output of width `W`, `L` low-res
  // tokens and batch B under `max_tile_bytes` (at least 1).
  int64_t tile_rows(int64_t B, int64_t W, int64_t L, int64_t max_tile_bytes) const;

 private:
  const at::Tensor& t(const std::string& name) const;
  at::Tensor stem(const at::Tensor& fourier, bool training) const;

  LoftUpGeometry g_;
  at::Device device_;
  std::vector<Named> named_;
  std::map<std::string, size_t> index_;
};

}  // namespace ovseg::models
