// The SAM library's layers and tensor visitors (see sam_layers.hpp).
#include "sam_layers.hpp"

#include <cmath>

namespace ovseg::models::sam {

void fail(const std::string& source, const std::string& what) {
  throw CheckpointError("SAM checkpoint '" + source + "': " + what);
}

void LoadVisitor::operator()(const std::string& name, at::Tensor& t, const std::vector<int64_t>& shape, Role role) {
  auto it = sd_.find(name);
  if (it == sd_.end()) fail(source_, "missing tensor '" + name + "' (expected shape " + shape_string(shape) + ")");
  const at::Tensor& stored = it->second;
  if (stored.sizes() != at::IntArrayRef(shape))
    fail(source_,
         "tensor '" + name + "' has shape " + shape_string(stored.sizes()) + ", expected " + shape_string(shape));
  if (role == Role::Counter) {
    t = stored;
    return;
  }
  if (!stored.is_floating_point())
    fail(source_, "tensor '" + name + "' has non-floating dtype " + std::string(c10::toString(stored.scalar_type())));
  t = stored.to(at::kFloat).contiguous();
}

void Linear::bind(TensorVisitor& v, const std::string& p, int64_t in, int64_t out, bool has_bias) {
  v(p + "weight", weight, {out, in}, Role::Parameter);
  if (has_bias) v(p + "bias", bias, {out}, Role::Parameter);
}

void LayerNorm::bind(TensorVisitor& v, const std::string& p, int64_t channels) {
  v(p + "weight", weight, {channels}, Role::Parameter);
  v(p + "bias", bias, {channels}, Role::Parameter);
}

void LayerNorm2d::bind(TensorVisitor& v, const std::string& p, int64_t channels) {
  v(p + "weight", weight, {channels}, Role::Parameter);
  v(p + "bias", bias, {channels}, Role::Parameter);
}

at::Tensor LayerNorm2d::operator()(const at::Tensor& x) const {
  // common.py: u = mean, s = (x-u)^2 mean, (x-u)/sqrt(s+eps), w[:,None,None]*x + b[:,None,None]
  const at::Tensor u = x.mean(1, /*keepdim=*/true);
  const at::Tensor d = x - u;
  const at::Tensor s = d.pow(2).mean(1, /*keepdim=*/true);
  const at::Tensor n = d / at::sqrt(s + eps);
  return weight.view({-1, 1, 1}) * n + bias.view({-1, 1, 1});
}

void Conv2d::bind(TensorVisitor& v, const std::string& p, int64_t in, int64_t out, int64_t kernel, bool has_bias,
                  int64_t g) {
  groups = g;
  v(p + "weight", weight, {out, in / g, kernel, kernel}, Role::Parameter);
  if (has_bias) v(p + "bias", bias, {out}, Role::Parameter);
}

void ConvTranspose2d::bind(TensorVisitor& v, const std::string& p, int64_t in, int64_t out, int64_t kernel) {
  v(p + "weight", weight, {in, out, kernel, kernel}, Role::Parameter);
  v(p + "bias", bias, {out}, Role::Parameter);
}

void Conv2dBN::bind(TensorVisitor& v, const std::string& p, int64_t in, int64_t out, int64_t kernel, int64_t stride,
                    int64_t padding, int64_t groups) {
  c.bind(v, p + "c.", in, out, kernel, /*has_bias=*/false, groups);
  c.stride = stride;
  c.padding = padding;
  v(p + "bn.weight", bn_weight, {out}, Role::Parameter);
  v(p + "bn.bias", bn_bias, {out}, Role::Parameter);
  v(p + "bn.running_mean", running_mean, {out}, Role::Buffer);
  v(p + "bn.running_var", running_var, {out}, Role::Buffer);
  v(p + "bn.num_batches_tracked", num_batches_tracked, {}, Role::Counter);
}

at::Tensor Conv2dBN::operator()(const at::Tensor& x) const {
  // BatchNorm2d in eval mode, as the reference runs after .eval().
  return at::batch_norm(c(x), bn_weight, bn_bias, running_mean, running_var, /*training=*/false, 0.1, 1e-5,
                        /*cudnn_enabled=*/true);
}

void Mlp::bind(TensorVisitor& v, const std::string& p, int64_t in, int64_t hidden, int64_t out, int64_t num_layers) {
  layers.resize(static_cast<size_t>(num_layers));
  for (int64_t i = 0; i < num_layers; ++i)
    layers[i].bind(v, p + "layers." + std::to_string(i) + ".", i == 0 ? in : hidden,
                   i == num_layers - 1 ? out : hidden);
}

at::Tensor Mlp::operator()(const at::Tensor& x) const {
  at::Tensor h = x;
  for (size_t i = 0; i < layers.size(); ++i) {
    h = layers[i](h);
    if (i + 1 < layers.size()) h = at::relu(h);
  }
  return h;
}

void Neck::bind(TensorVisitor& v, const std::string& p, int64_t in, int64_t out) {
  conv0.bind(v, p + "0.", in, out, 1, /*has_bias=*/false);
  norm1.bind(v, p + "1.", out);
  conv2.bind(v, p + "2.", out, out, 3, /*has_bias=*/false);
  conv2.padding = 1;
  norm3.bind(v, p + "3.", out);
}

void bind_embedding(TensorVisitor& v, const std::string& name, at::Tensor& t, int64_t rows, int64_t dim) {
  v(name, t, {rows, dim}, Role::Parameter);
}

const at::Tensor& need_tensor(const StateDict& sd, const std::string& key, const std::string& source, int64_t dims) {
  auto it = sd.find(key);
  if (it == sd.end()) fail(source, "missing tensor '" + key + "'");
  if (dims >= 0 && it->second.dim() != dims)
    fail(source, "tensor '" + key + "' has shape " + shape_string(it->second.sizes()) + ", expected a " +
                     std::to_string(dims) + "-d tensor");
  return it->second;
}

int64_t count_indexed(const StateDict& sd, const std::string& prefix, const std::string& source) {
  std::set<int64_t> idx;
  for (const auto& kv : sd) {
    if (kv.first.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = kv.first.substr(prefix.size());
    const auto dot = rest.find('.');
    const std::string num = rest.substr(0, dot);
    if (num.empty() || num.find_first_not_of("0123456789") != std::string::npos)
      fail(source, "unexpected key '" + kv.first + "'");
    idx.insert(std::stoll(num));
  }
  int64_t expect = 0;
  for (int64_t i : idx) {
    if (i != expect) fail(source, "missing tensors of '" + prefix + std::to_string(expect) + "'");
    ++expect;
  }
  return static_cast<int64_t>(idx.size());
}

}  // namespace ovseg::models::sam
