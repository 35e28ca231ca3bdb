// Ground truth as pipeline inputs. Besides input.image, a graph may read
//   input.labels     LabelMap (B,H,W): class indices of the vocabulary the
//                    graph was built with, 255 = ignored (void; unseen
//                    classes while training zero-shot)
//   input.instances  Masks: one {0,1} mask per object instance (B,N,H,W)
//                    with its class in `classes` (B,N) (-1 = padding)
// They exist under `ovseg train` (the augmented crops' ground truth: what
// mask-level losses and pseudo-label stages train from) and under `ovseg
// eval` (oracle rows, e.g. ground-truth masks classified by CLIP); records
// of runs that read them say so. `ovseg run` has none.
// An OPTIONAL input port wired to them is a training signal (e.g. the masks
// a learned upsampler builds its pseudo ground truth from): it is given
// under `ovseg train` only and left unconnected everywhere else, so the
// stage runs as at inference and an eval of its pipeline reads no truth.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

#include "ovseg/host/graph.hpp"
#include "ovseg/sdk/stage.hpp"

namespace ovseg {

inline constexpr const char* kGroundTruthLabels = "labels";
inline constexpr const char* kGroundTruthInstances = "instances";

// Which ground-truth inputs the nodes marked in `run_node` (all when empty)
// read; optional ports count only when `training`.
struct GroundTruthUse {
  bool labels = false, instances = false;
  bool any() const { return labels || instances; }
};
GroundTruthUse ground_truth_use(const Graph& graph, const std::vector<bool>& run_node = {}, bool training = false);

// Whether node input `port` of `node` is an optional port wired to the
// ground truth (given only while training).
bool training_only_truth(const GraphNode& node, const std::string& port);

// Instance masks from an id map (B,H,W) int64 (0 = no instance) and the
// class map (B,H,W): each instance's class is the most frequent non-ignored
// label under it (-1 if none). N is the largest count in the batch; images
// with fewer are padded with empty masks of class -1.
Masks instance_masks(const at::Tensor& instance_ids, const at::Tensor& labels, int64_t ignore = 255);

// The graph inputs `use` asks for, from a batch of crops: `labels` (B,H,W)
// in the vocabulary's numbering (255 ignored) as input.labels, and the
// instances of `instance_ids` (B,H,W; needed only when use.instances) as
// input.instances, all on `device`. One builder for eval's windows and
// training's crops, so both hand stages the same values.
std::map<std::string, PortValue> ground_truth_inputs(const GroundTruthUse& use, const at::Tensor& labels,
                                                     const at::Tensor& instance_ids,
                                                     const std::vector<std::string>& class_names,
                                                     const c10::Device& device);

}  // namespace ovseg
