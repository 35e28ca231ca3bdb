// Building blocks of the SAM model library (internal to libovseg_models):
// the layers segment_anything and MobileSAM build from (nn.Linear,
// nn.LayerNorm, common.py LayerNorm2d, nn.Conv2d, nn.ConvTranspose2d,
// TinyViT's Conv2d_BN) as plain structs of tensors, and one way to walk all
// of a component's tensors by checkpoint name.
//
// Every component describes its weights once, in a bind(TensorVisitor&)
// method that names each tensor as the official state dict does and gives its
// expected shape. Loading, saving, moving to a device and drawing a random
// checkpoint are visitors over that one description, so the loader and the
// random-checkpoint writer cannot disagree about the layout.
#pragma once

#include <ovseg/models/state_dict.hpp>

#include <set>
#include <string>
#include <vector>

namespace ovseg::models::sam {

// What a tensor is to the Python module it comes from.
enum class Role {
  Parameter,  // nn.Parameter: trained
  Buffer,     // a persistent float buffer (BatchNorm statistics, the random-Fourier matrix)
  Counter,    // BatchNorm's int64 num_batches_tracked (kept for layout fidelity, never read)
};

class TensorVisitor {
 public:
  virtual ~TensorVisitor() = default;
  // `name` is the full checkpoint key ("image_encoder.blocks.0.attn.qkv.weight").
  virtual void operator()(const std::string& name, at::Tensor& tensor, const std::vector<int64_t>& shape,
                          Role role) = 0;
};

// ---- visitors ----

// Takes each tensor from `sd` (float32, contiguous; counters as stored),
// checking presence and shape; errors name the source file and the tensor.
class LoadVisitor final : public TensorVisitor {
 public:
  LoadVisitor(const StateDict& sd, std::string source) : sd_(sd), source_(std::move(source)) {}
  void operator()(const std::string& name, at::Tensor& t, const std::vector<int64_t>& shape, Role role) override;

 private:
  const StateDict& sd_;
  std::string source_;
};

// Collects the tensors (the very handles the model runs) into a state dict.
class SaveVisitor final : public TensorVisitor {
 public:
  explicit SaveVisitor(StateDict& out, bool include_counters = true) : out_(out), counters_(include_counters) {}
  void operator()(const std::string& name, at::Tensor& t, const std::vector<int64_t>&, Role role) override {
    if (role != Role::Counter || counters_) out_[name] = t;
  }

 private:
  StateDict& out_;
  bool counters_;
};

class MoveVisitor final : public TensorVisitor {
 public:
  explicit MoveVisitor(at::Device d) : device_(d) {}
  void operator()(const std::string&, at::Tensor& t, const std::vector<int64_t>&, Role) override { t = t.to(device_); }

 private:
  at::Device device_;
};

// Names of the tensors of one role.
class RoleVisitor final : public TensorVisitor {
 public:
  explicit RoleVisitor(Role role) : role_(role) {}
  void operator()(const std::string& name, at::Tensor&, const std::vector<int64_t>&, Role role) override {
    if (role == role_) names.insert(name);
  }
  std::set<std::string> names;

 private:
  Role role_;
};

// ---- layers ----

// nn.GELU() (exact, erf form): SAM's encoders, mask downscaling and output
// upscaling all use it.
inline at::Tensor gelu_exact(const at::Tensor& x) { return at::gelu(x); }

struct Linear {
  at::Tensor weight, bias;  // (out, in), (out) or undefined
  void bind(TensorVisitor& v, const std::string& p, int64_t in, int64_t out, bool has_bias = true);
  at::Tensor operator()(const at::Tensor& x) const { return at::linear(x, weight, bias); }
};

// nn.LayerNorm over the last dimension.
struct LayerNorm {
  at::Tensor weight, bias;
  double eps = 1e-5;
  void bind(TensorVisitor& v, const std::string& p, int64_t channels);
  at::Tensor operator()(const at::Tensor& x) const { return at::layer_norm(x, {weight.size(0)}, weight, bias, eps); }
};

// segment_anything/modeling/common.py LayerNorm2d: over the channels of
// (B,C,H,W), eps 1e-6, with the reference's operation order.
struct LayerNorm2d {
  at::Tensor weight, bias;
  double eps = 1e-6;
  void bind(TensorVisitor& v, const std::string& p, int64_t channels);
  at::Tensor operator()(const at::Tensor& x) const;
};

struct Conv2d {
  at::Tensor weight, bias;  // (out, in/groups, k, k)
  int64_t stride = 1, padding = 0, groups = 1;
  void bind(TensorVisitor& v, const std::string& p, int64_t in, int64_t out, int64_t kernel, bool has_bias = true,
            int64_t groups = 1);
  at::Tensor operator()(const at::Tensor& x) const {
    return at::conv2d(x, weight, bias, {stride, stride}, {padding, padding}, {1, 1}, groups);
  }
};

struct ConvTranspose2d {
  at::Tensor weight, bias;  // (in, out, k, k)
  int64_t stride = 1;
  void bind(TensorVisitor& v, const std::string& p, int64_t in, int64_t out, int64_t kernel);
  at::Tensor operator()(const at::Tensor& x) const { return at::conv_transpose2d(x, weight, bias, {stride, stride}); }
};

// MobileSAM tiny_vit_sam.py Conv2d_BN: a bias-free convolution "c" and a
// BatchNorm2d "bn" (eps 1e-5), in eval mode (running statistics).
struct Conv2dBN {
  Conv2d c;
  at::Tensor bn_weight, bn_bias, running_mean, running_var, num_batches_tracked;
  void bind(TensorVisitor& v, const std::string& p, int64_t in, int64_t out, int64_t kernel, int64_t stride = 1,
            int64_t padding = 0, int64_t groups = 1);
  at::Tensor operator()(const at::Tensor& x) const;
};

// mask_decoder.py MLP: ReLU between layers, none after the last.
struct Mlp {
  std::vector<Linear> layers;
  void bind(TensorVisitor& v, const std::string& p, int64_t in, int64_t hidden, int64_t out, int64_t num_layers);
  at::Tensor operator()(const at::Tensor& x) const;
};

// Both image encoders' neck (image_encoder.py ImageEncoderViT.neck, TinyViT's
// copy): 1x1 conv to `out` channels, LayerNorm2d, 3x3 conv, LayerNorm2d; no
// biases.
struct Neck {
  Conv2d conv0, conv2;
  LayerNorm2d norm1, norm3;
  void bind(TensorVisitor& v, const std::string& p, int64_t in, int64_t out);
  at::Tensor operator()(const at::Tensor& x) const { return norm3(conv2(norm1(conv0(x)))); }
};

// An nn.Embedding's weight (rows, dim).
void bind_embedding(TensorVisitor& v, const std::string& name, at::Tensor& t, int64_t rows, int64_t dim);

// ---- reading geometry off a state dict ----

// The tensor, or a CheckpointError naming `source` and the key.
const at::Tensor& need_tensor(const StateDict& sd, const std::string& key, const std::string& source,
                              int64_t dims = -1);
// Distinct N in "<prefix>N." keys; 0..L-1 without gaps (else an error naming the gap).
int64_t count_indexed(const StateDict& sd, const std::string& prefix, const std::string& source);
[[noreturn]] void fail(const std::string& source, const std::string& what);

}  // namespace ovseg::models::sam
