// Data-parallel training across processes with LibTorch's distributed package
// (c10d) over Gloo, which runs on CPUs and GPUs alike: every rank holds the
// whole graph, computes the gradients of its slice of each step's batch, and
// the gradients are averaged before the optimiser step, so N ranks train
// the same model as one process with `accumulate = N` (up to float rounding).
//
// Ranks meet through a FileStore: a path every rank can reach (a local temp
// file for `ovseg train --ranks N`, a shared file system for Slurm jobs on
// several machines). Built without Gloo headers, ProcessGroup throws a clear
// error instead.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace ovseg::train {

struct DistributedOptions {
  int rank = 0;
  int world_size = 1;
  std::string store;     // rendezvous file; must not exist before the run starts
  std::string hostname;  // address to bind ("" = 127.0.0.1 for one machine, else this host's name)
};

// Whether this build has c10d + Gloo.
bool distributed_available();

class ProcessGroup {
 public:
  explicit ProcessGroup(const DistributedOptions& options);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // In place: the mean of each tensor over all ranks.
  void average(const std::vector<at::Tensor>& tensors);
  double average(double value);
  // In place: every rank gets rank 0's values.
  void broadcast_from_rank0(const std::vector<at::Tensor>& tensors);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int rank_ = 0, size_ = 1;
};

}  // namespace ovseg::train
