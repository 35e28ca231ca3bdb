// Non-template parts of <ovseg/sdk/stage.hpp>.
#include "ovseg/sdk/stage.hpp"

namespace ovseg {

std::string shape_string(const at::Tensor& t) {
  if (!t.defined()) return "(undefined)";
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}

void expect_shape(const at::Tensor& t, std::vector<int64_t> dims, const std::string& what) {
  auto expected = [&] {
    std::string s = "(";
    for (size_t i = 0; i < dims.size(); ++i)
      s += (i ? ", " : "") + (dims[i] < 0 ? std::string("*") : std::to_string(dims[i]));
    return s + ")";
  };
  bool ok = t.defined() && t.dim() == static_cast<int64_t>(dims.size());
  for (size_t i = 0; ok && i < dims.size(); ++i)
    if (dims[i] >= 0 && t.size(static_cast<int64_t>(i)) != dims[i]) ok = false;
  if (!ok) throw std::invalid_argument(what + " has shape " + shape_string(t) + ", expected " + expected());
}

int64_t Prompts::num_prompts() const {
  for (const at::Tensor* t : {&points, &boxes, &mask_inputs})
    if (t->defined() && t->dim() >= 2) return t->size(1);
  return 0;
}

at::Tensor l2_normalize(const at::Tensor& t, int64_t dim) {
  return t / t.norm(2, {dim}, /*keepdim=*/true).clamp_min(1e-12);
}

}  // namespace ovseg
