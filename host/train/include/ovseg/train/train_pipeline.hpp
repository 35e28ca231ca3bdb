// `ovseg train`: trains a pipeline graph as its [train] table says.
//
// The graph runs exactly as `ovseg eval` runs it, split at its [outputs]
// logits: the window phase (every node the logits depend on) runs in train
// mode with autograd on batches of augmented crops, the recipe's pixel losses
// compare its logits with the crops' labels, and the auxiliary losses stages
// emit are added with their weights. Only the parameters the nodes mark
// trainable change (Stage::parameters + each node's `trainable` patterns).
//
// Zero-shot splits (ZegFormer, ZegCLIP, CLIP-RC's inductive setting): with a
// split, the graph is built with the SEEN classes as its vocabulary (text
// stages never see an unseen name) and unseen pixels are ignored.
//
// A run folder holds:
//   weights.safetensors  the trainable parameters and buffers, keys
//                        "node.name" (`ovseg eval ... --weights` loads them)
//   run.json             recipe, data, fingerprint, times, peak memory, the
//                        final losses and validation metrics, weights sha256
//   curves.csv           per step: loss and its terms, lr, gradient norm,
//                        peak memory, seconds
//   val.csv              per evaluation: mIoU and seen / unseen / hIoU
//   curves.png           both plotted
//   checkpoint/          the trainer's resumable state (kept after the run)
// Rerunning the same command resumes an interrupted run exactly (bit-identical
// weights) and does nothing for a finished one; a different recipe, graph or
// data set in the same folder is refused.
//
// With N ranks (distributed.hpp) each step's batch is split among them and
// gradients averaged: the same model as accumulate = N in one process.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "ovseg/host/graph.hpp"
#include "ovseg/train/distributed.hpp"

namespace ovseg::train {

struct PipelineTrainOptions {
  std::string dataset;
  std::string data_root;
  std::string out_dir;
  std::string device = "cpu";
  bool force = false;       // train again even when out_dir holds the finished run
  bool progress = true;     // progress line on stderr
  std::string command;      // the command line, recorded in run.json
  int64_t kill_after = -1;  // test hook: SIGKILL after this many steps (and their checkpoint)
  // Data-parallel (distributed.hpp): every rank runs this with the same
  // arguments; rank 0 alone writes the run folder and evaluates.
  DistributedOptions distributed;
};

struct PipelineTrainOutcome {
  nlohmann::json run;  // run.json's content
  std::string weights_path;
  bool already_done = false;  // the finished run was found; nothing ran
};

PipelineTrainOutcome train_pipeline(const Graph& graph, const PipelineTrainOptions& options);

}  // namespace ovseg::train
