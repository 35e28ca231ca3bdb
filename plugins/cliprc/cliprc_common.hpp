// What the CLIP-RC stages share: initialisers as the authors' code calls
// them, small layers kept as plain tensors (named as the authors' modules
// name them, so a released checkpoint's keys map one to one), and reading a
// released checkpoint (an mmseg state dict) by section.
#pragma once

#include <ovseg/sdk.hpp>

#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>

namespace ovseg::cliprc {

// A CPU generator seeded with `seed`: stages initialise their tensors from it,
// so a node's initial weights are a function of its init_seed.
at::Generator make_generator(uint64_t seed);

// timm's trunc_normal_(t, mean=0, std, a, b): bounds a, b are absolute (the
// authors call it with the defaults -2, 2).
void trunc_normal_(at::Tensor& t, double std, at::Generator& gen, double a = -2.0, double b = 2.0);

struct Linear {
  at::Tensor weight, bias;  // (out, in), (out)
  at::Tensor operator()(const at::Tensor& x) const { return at::linear(x, weight, bias); }
};
struct LayerNorm {
  at::Tensor weight, bias;
  double eps = 1e-5;
  at::Tensor operator()(const at::Tensor& x) const { return at::layer_norm(x, {weight.size(0)}, weight, bias, eps); }
};

// mmseg heads' init_weights: Linear weights trunc_normal(std 0.02), biases 0;
// LayerNorm weight 1, bias 0.
Linear head_linear(int64_t in, int64_t out, at::Generator& gen);
LayerNorm layer_norm(int64_t dim, double eps = 1e-5);

void add(std::vector<NamedTensor>& out, const std::string& name, const Linear& l, bool trainable = true);
void add(std::vector<NamedTensor>& out, const std::string& name, const LayerNorm& l, bool trainable = true);

// Copies the tensors under `prefix` ("backbone.", "decode_head.") of a
// released CLIP-RC checkpoint at `path` (an mmseg checkpoint: the state dict,
// possibly under "state_dict") into `tensors`, each found at prefix + name.
// A tensor the file lacks, a shape that differs, or a key under `prefix` that
// no tensor takes and `ignored(key without prefix, tensor)` does not accept is an error naming the file,
// the key and the shapes.
void load_released_section(const std::string& path, const std::string& prefix, const std::vector<NamedTensor>& tensors,
                           const std::function<bool(const std::string& key, const at::Tensor& value)>& ignored);

}  // namespace ovseg::cliprc
