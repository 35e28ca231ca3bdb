// Internal to `ovseg train`: the TrainTask that runs a pipeline graph's
// window phase on augmented batches of a data set.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core/mat.hpp>

#include "ovseg/harness/dataset.hpp"
#include "ovseg/host/executor.hpp"
#include "ovseg/host/ground_truth.hpp"
#include "ovseg/train/train_recipe.hpp"
#include "ovseg/train/trainer.hpp"

namespace ovseg::train {

// Decoded samples (image, label, instance ids when the data set has them)
// kept in memory up to a budget.
class SampleCache {
 public:
  SampleCache(const harness::Dataset& ds, int64_t budget_mb) : ds_(ds), budget_(budget_mb << 20) {}
  harness::Sample get(size_t index);  // image, label, instances (empty when the data set has none)

 private:
  const harness::Dataset& ds_;
  int64_t budget_, used_ = 0;
  std::map<size_t, harness::Sample> kept_;
};

class PipelineTrainTask final : public TrainTask {
 public:
  // `window_phase`: the nodes the logits depend on. `label_map[c]`: the
  // logit channel of data-set class c, or 255 (ignored: void or unseen).
  // `class_names`: the logits' expected channel names.
  // Data-parallel: rank `rank` of `ranks` takes its consecutive slice of
  // every step's batch (batch / ranks images).
  PipelineTrainTask(std::shared_ptr<Executor> executor, std::vector<bool> window_phase, const harness::Dataset& ds,
                    const TrainRecipe& recipe, std::vector<int> label_map, std::vector<std::string> class_names,
                    int rank = 0, int ranks = 1);

  NamedTensors parameters() override;
  NamedTensors buffers() override;
  at::Tensor loss(int64_t step) override { return micro_loss(step, 0, 1); }
  at::Tensor micro_loss(int64_t step, int64_t micro, int64_t micros) override;
  std::map<std::string, double> last_terms() override { return terms_; }

  // The data-set indices of a step's batch: consecutive slices of per-epoch
  // shuffles, a function of (seed, step) only.
  std::vector<size_t> batch_indices(int64_t step);

 private:
  std::shared_ptr<Executor> executor_;
  std::vector<bool> window_phase_;
  const harness::Dataset& ds_;
  const TrainRecipe& recipe_;
  std::vector<int> label_map_;
  std::vector<std::string> class_names_;
  SampleCache cache_;
  std::string logits_key_;
  std::map<std::string, double> terms_;
  int64_t cached_epoch_ = -1;
  std::vector<size_t> permutation_;
  bool checked_names_ = false;
  int rank_ = 0, ranks_ = 1;
  GroundTruthUse truth_;  // input.labels / input.instances the window phase reads (training)
};

}  // namespace ovseg::train
