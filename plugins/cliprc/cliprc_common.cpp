#include "cliprc_common.hpp"

#include <cmath>
#include <set>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x

#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/sdk/diagnostics.hpp"

namespace ovseg::cliprc {

at::Generator make_generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

void trunc_normal_(at::Tensor& t, double std, at::Generator& gen, double a, double b) {
  // timm.models.layers.trunc_normal_: inverse-CDF sampling of N(0, std)
  // truncated to [a, b].
  auto cdf = [](double x) { return (1.0 + std::erf(x / std::sqrt(2.0))) / 2.0; };
  const double l = cdf(a / std), u = cdf(b / std);
  t.uniform_(2 * l - 1, 2 * u - 1, gen);
  t.erfinv_();
  t.mul_(std * std::sqrt(2.0));
  t.clamp_(a, b);
}

Linear head_linear(int64_t in, int64_t out, at::Generator& gen) {
  Linear l{at::empty({out, in}), at::zeros({out})};
  trunc_normal_(l.weight, 0.02, gen);
  return l;
}

LayerNorm layer_norm(int64_t dim, double eps) { return {at::ones({dim}), at::zeros({dim}), eps}; }

void add(std::vector<NamedTensor>& out, const std::string& name, const Linear& l, bool trainable) {
  out.push_back({name + ".weight", l.weight, trainable});
  out.push_back({name + ".bias", l.bias, trainable});
}

void add(std::vector<NamedTensor>& out, const std::string& name, const LayerNorm& l, bool trainable) {
  out.push_back({name + ".weight", l.weight, trainable});
  out.push_back({name + ".bias", l.bias, trainable});
}

void load_released_section(const std::string& path, const std::string& prefix, const std::vector<NamedTensor>& tensors,
                           const std::function<bool(const std::string& key, const at::Tensor& value)>& ignored) {
  const models::StateDict sd = models::load_state_dict(path);
  std::set<std::string> taken;
  for (const auto& t : tensors) {
    const std::string key = prefix + t.name;
    auto it = sd.find(key);
    if (it == sd.end())
      throw std::invalid_argument("CLIP-RC checkpoint '" + path + "' has no tensor '" + key +
                                  "' (is it a CLIP-RC checkpoint of this configuration?)");
    if (!it->second.sizes().equals(t.tensor.sizes()))
      throw std::invalid_argument("CLIP-RC checkpoint '" + path + "': '" + key + "' is " + shape_string(it->second) +
                                  ", this node's '" + t.name + "' is " + shape_string(t.tensor) +
                                  " (set the node's parameters to the checkpoint's configuration)");
    at::NoGradGuard no_grad;
    t.tensor.copy_(it->second.to(t.tensor.scalar_type()));
    taken.insert(key);
  }
  for (const auto& [key, value] : sd)
    if (key.compare(0, prefix.size(), prefix) == 0 && !taken.count(key) && !ignored(key.substr(prefix.size()), value))
      throw std::invalid_argument("CLIP-RC checkpoint '" + path + "': unexpected tensor '" + key + "' " +
                                  shape_string(value) + " (a configuration this plugin does not build)");
}

}  // namespace ovseg::cliprc
