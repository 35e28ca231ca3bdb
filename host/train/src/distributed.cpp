#include "ovseg/train/distributed.hpp"

#include <stdexcept>

#include <ATen/ATen.h>

#if __has_include(<gloo/algorithm.h>) && __has_include(<torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>)
#define OVSEG_HAVE_GLOO 1
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif

namespace ovseg::train {

#ifdef OVSEG_HAVE_GLOO

bool distributed_available() { return true; }

struct ProcessGroup::Impl {
  c10::intrusive_ptr<::c10d::ProcessGroupGloo> pg;
};

ProcessGroup::ProcessGroup(const DistributedOptions& o)
    : impl_(std::make_unique<Impl>()), rank_(o.rank), size_(o.world_size) {
  if (o.world_size < 1 || o.rank < 0 || o.rank >= o.world_size)
    throw std::invalid_argument("distributed: rank " + std::to_string(o.rank) + " of " + std::to_string(o.world_size) +
                                " is not 0 <= rank < world size");
  if (o.store.empty()) throw std::invalid_argument("distributed: a rendezvous store path is needed");
  auto store = c10::make_intrusive<::c10d::FileStore>(o.store, o.world_size);
  // Long evaluations on rank 0 keep the others waiting at the next reduce.
  auto options = ::c10d::ProcessGroupGloo::Options::create(std::chrono::hours(2));
  options->devices.push_back(o.hostname.empty() ? ::c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                                : ::c10d::ProcessGroupGloo::createDeviceForHostname(o.hostname));
  impl_->pg = c10::make_intrusive<::c10d::ProcessGroupGloo>(store, o.rank, o.world_size, options);
}

void ProcessGroup::average(const std::vector<at::Tensor>& tensors) {
  if (tensors.empty()) return;
  // One reduction of all tensors side by side: one round trip per step.
  std::vector<at::Tensor> flat;
  for (const auto& t : tensors) flat.push_back(t.detach().reshape({-1}).to(at::kFloat));
  std::vector<at::Tensor> one = {at::cat(flat)};
  impl_->pg->allreduce(one)->wait();
  one[0].div_(size_);
  int64_t offset = 0;
  for (const auto& t : tensors) {
    t.detach().copy_(one[0].narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
}

double ProcessGroup::average(double value) {
  std::vector<at::Tensor> one = {at::scalar_tensor(value, at::kDouble).reshape({1})};
  impl_->pg->allreduce(one)->wait();
  return one[0].item<double>() / size_;
}

void ProcessGroup::broadcast_from_rank0(const std::vector<at::Tensor>& tensors) {
  for (const auto& t : tensors) {
    std::vector<at::Tensor> one = {t};
    impl_->pg->broadcast(one)->wait();
  }
}

#else

bool distributed_available() { return false; }

struct ProcessGroup::Impl {};

ProcessGroup::ProcessGroup(const DistributedOptions&) {
  throw std::runtime_error(
      "data-parallel training needs LibTorch's distributed package with Gloo; this build has none "
      "(on Debian install libgloo-dev and rebuild; or train several jobs over seeds instead)");
}
void ProcessGroup::average(const std::vector<at::Tensor>&) {}
double ProcessGroup::average(double value) { return value; }
void ProcessGroup::broadcast_from_rank0(const std::vector<at::Tensor>&) {}

#endif

ProcessGroup::~ProcessGroup() = default;

}  // namespace ovseg::train
