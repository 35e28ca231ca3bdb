// One evaluation run: a validated pipeline graph over (a shard of the first
// `limit` images of) a data set under the harness protocol, accumulating a
// confusion matrix, checkpointing every few images so an interrupted run
// resumes exactly, and storing one results record.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ovseg/harness/zero_shot.hpp"
#include "ovseg/host/batch_limits.hpp"
#include "ovseg/host/graph.hpp"
#include "ovseg/host/precision.hpp"
#include "ovseg/host/protocol.hpp"
#include "ovseg/host/results_store.hpp"

namespace ovseg {

struct EvalOptions {
  std::string dataset;  // name or alias (see make_dataset)
  std::string data_root;
  std::string split = "val";
  long limit = -1;      // first N images only; -1 = all
  int shard_index = 0;  // images shard_index, shard_index + shard_count, ...
  int shard_count = 1;
  std::string save_predictions;  // folder for <id>.png label maps; empty = none
  std::string device = "cpu";
  // Encoders and refinements in bf16 / fp16 (precision.hpp); part of the
  // run's identity: an fp32 and a bf16 record of one pipeline coexist.
  Precision precision = Precision::fp32;
  std::string results_dir = "results/runs";
  int checkpoint_every = 10;  // images between <record>.partial.json writes
  bool progress = true;       // progress line on stderr
  bool force = false;         // run again even when the record is stored
  // The seen/unseen split reported (mIoU seen / unseen, hIoU); unset = the
  // one the data set declares (harness::declared_zero_shot_split), if any.
  // It is derived from the confusion matrix, so changing it never reruns.
  std::optional<harness::ZeroShotSplit> zero_shot;
  // Windows of several images per window-phase batch (window_batcher.hpp).
  // Labels are the same under any limits, so they are not part of the key.
  BatchLimits batching;
  // Test hook: after this many images of this invocation (and their
  // checkpoint), the process SIGKILLs itself, as a crash or `kill -9` would.
  long kill_after = -1;
};

struct EvalOutcome {
  nlohmann::json record;
  std::string record_path;
  size_t resumed_images = 0;    // images taken from a checkpoint
  size_t new_images = 0;        // images run by this invocation
  bool already_stored = false;  // the record existed (and force was off): nothing ran
};

// "i/N" -> {i, N}; throws std::invalid_argument unless 0 <= i < N.
std::pair<int, int> parse_shard(const std::string& text);

// Version strings recorded with every run.
std::string ovseg_version();
std::string ovseg_git_commit();  // from `git rev-parse HEAD` at configure time, or "unknown"

EvalOutcome run_eval(const Graph& graph, const EvalOptions& options);

// Sums the confusion matrices of the shards of one run into the record of
// the unsharded run (metrics recomputed, timings added). Throws
// std::invalid_argument naming the first field that differs between two
// records (pipeline sha256, protocol, dataset, split, limit, shard count) or
// a missing / duplicated shard.
nlohmann::json merge_records(const std::vector<nlohmann::json>& records);

// The RunKey a record describes.
RunKey record_key(const nlohmann::json& record);

// Sets record["zero_shot"] from its confusion matrix and `split` (removes it
// for an empty split). Throws std::invalid_argument for a class not in the
// record's data set.
void apply_zero_shot(nlohmann::json& record, const harness::ZeroShotSplit& split);

}  // namespace ovseg
