#include "pipeline_train_task.hpp"

#include <random>
#include <stdexcept>

#include <ATen/ATen.h>
#include <opencv2/imgproc.hpp>

#include "ovseg/sdk/diagnostics.hpp"
#include "ovseg/train/losses.hpp"

namespace ovseg::train {

harness::Sample SampleCache::get(size_t index) {
  if (auto it = kept_.find(index); it != kept_.end()) return it->second;
  harness::Sample s = ds_.sample(index, /*load_image=*/true);
  const int64_t bytes = static_cast<int64_t>(s.image.total() * s.image.elemSize() +
                                             s.label.total() * s.label.elemSize() +
                                             s.instances.total() * s.instances.elemSize());
  if (used_ + bytes <= budget_) {
    used_ += bytes;
    kept_[index] = s;
  }
  return s;
}

PipelineTrainTask::PipelineTrainTask(std::shared_ptr<Executor> executor, std::vector<bool> window_phase,
                                     const harness::Dataset& ds, const TrainRecipe& recipe, std::vector<int> label_map,
                                     std::vector<std::string> class_names, int rank, int ranks)
    : executor_(std::move(executor)),
      window_phase_(std::move(window_phase)),
      ds_(ds),
      recipe_(recipe),
      label_map_(std::move(label_map)),
      class_names_(std::move(class_names)),
      cache_(ds, recipe.cache_mb),
      rank_(rank),
      ranks_(ranks) {
  logits_key_ = executor_->graph().logits_output.str(executor_->graph());
  truth_ = ground_truth_use(executor_->graph(), window_phase_, /*training=*/true);
}

NamedTensors PipelineTrainTask::parameters() {
  NamedTensors out;
  for (const auto& t : executor_->learnable_tensors())
    if (t.trainable) out.emplace_back(t.key(), t.tensor);
  return out;
}

NamedTensors PipelineTrainTask::buffers() {
  NamedTensors out;
  for (const auto& t : executor_->learnable_tensors())
    if (t.buffer) out.emplace_back(t.key(), t.tensor);
  return out;
}

std::vector<size_t> PipelineTrainTask::batch_indices(int64_t step) {
  const int64_t n = static_cast<int64_t>(ds_.size()), B = recipe_.batch;
  std::vector<size_t> idx;
  for (int64_t pos = step * B; pos < (step + 1) * B; ++pos) {
    const int64_t epoch = pos / n;
    if (epoch != cached_epoch_) {  // Fisher-Yates on a fixed engine: identical on every platform
      permutation_.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) permutation_[i] = static_cast<size_t>(i);
      std::mt19937_64 g(recipe_.seed * 1000003ull + static_cast<uint64_t>(epoch));
      for (int64_t i = n - 1; i > 0; --i) std::swap(permutation_[i], permutation_[g() % (i + 1)]);
      cached_epoch_ = epoch;
    }
    idx.push_back(permutation_[static_cast<size_t>(pos % n)]);
  }
  return idx;
}

at::Tensor PipelineTrainTask::micro_loss(int64_t step, int64_t micro, int64_t micros) {
  const std::vector<size_t> all = batch_indices(step);
  // This rank's slice of the batch, then this micro-batch of it. `b` stays
  // the index in the whole batch, so augmentation does not depend on ranks.
  const int64_t per_rank = recipe_.batch / ranks_, per = per_rank / micros;
  const int64_t first = rank_ * per_rank + micro * per;
  const int crop = recipe_.augment.crop;
  std::vector<at::Tensor> images, targets, instance_ids;
  for (int64_t b = first; b < first + per; ++b) {
    const size_t index = all[static_cast<size_t>(b)];
    const harness::Sample e = cache_.get(index);
    if (truth_.instances && e.instances.empty())
      throw std::runtime_error("the pipeline reads input.instances, but data set '" + ds_.name() +
                               "' has no instance "
                               "masks for image '" +
                               ds_.id(index) +
                               "' (the folder layout reads them from "
                               "ROOT/SPLIT/instances/ID.png; `ovseg world` writes them from world v2 on)");
    // Augmentation draws do not depend on whether instances are given.
    const AugmentedSample s = augment_sample(e.image, e.label, recipe_.augment, sample_seed(recipe_.seed, step, b),
                                             truth_.instances ? e.instances : cv::Mat());
    cv::Mat rgb, f;
    cv::cvtColor(s.image, rgb, cv::COLOR_BGR2RGB);
    rgb.convertTo(f, CV_32FC3, 1.0 / 255.0);
    images.push_back(at::from_blob(f.data, {crop, crop, 3}, at::kFloat).permute({2, 0, 1}).clone());
    // Data-set classes -> logit channels; void and unseen -> ignored.
    at::Tensor t = at::empty({crop, crop}, at::kLong);
    auto acc = t.accessor<int64_t, 2>();
    for (int y = 0; y < crop; ++y)
      for (int x = 0; x < crop; ++x) {
        const int c = s.label.at<int32_t>(y, x);
        acc[y][x] = (c >= 0 && c < static_cast<int>(label_map_.size())) ? label_map_[c] : 255;
      }
    targets.push_back(t);
    if (truth_.instances) instance_ids.push_back(at::from_blob(s.instances.data, {crop, crop}, at::kInt).to(at::kLong));
  }
  at::Tensor batch = at::stack(images);
  at::Tensor target = at::stack(targets).to(executor_->device());

  // The crops' ground truth for stages that read it (ground_truth.hpp):
  // labels in the logits' channels (255: void or unseen), instances with
  // their classes in the same numbering.
  auto values = executor_->run_nodes(Image{batch}, window_phase_,
                                     ground_truth_inputs(truth_, target,
                                                         truth_.instances ? at::stack(instance_ids) : at::Tensor(),
                                                         class_names_, executor_->device()));
  const Logits& out = std::get<Logits>(values.at(logits_key_));
  if (!checked_names_) {
    if (out.class_names != class_names_) {
      std::string have, want;
      for (const auto& n : out.class_names) have += (have.empty() ? "" : ", ") + n;
      for (const auto& n : class_names_) want += (want.empty() ? "" : ", ") + n;
      throw std::runtime_error(
          "the pipeline's logits (" + logits_key_ + ") name the classes [" + have + "], but training expects [" + want +
          "] (the data set's" + (class_names_.size() < label_map_.size() ? " seen" : "") +
          " classes, one channel each): let the text stage take the data set's vocabulary (no class_names / "
          "names_file) and average synonyms (synonyms = \"mean\")");
    }
    checked_names_ = true;
  }
  const at::Tensor& logits = out.logits;
  if (logits.dim() != 4 || logits.size(0) != batch.size(0) || logits.size(2) != crop || logits.size(3) != crop)
    throw std::runtime_error("the logits " + logits_key_ + " are " + shape_string(logits) + " for a crop batch " +
                             shape_string(batch) + "; end the logits with resize_logits wired to input.image");

  at::Tensor total;
  terms_.clear();
  for (const auto& [name, weight] : recipe_.losses) {
    at::Tensor term;
    if (std::find(pixel_loss_names().begin(), pixel_loss_names().end(), name) != pixel_loss_names().end()) {
      term = pixel_loss(name, logits, target, 255);
    } else {
      auto it = executor_->aux_losses().find(name);
      if (it == executor_->aux_losses().end()) {  // not emitted this step: 0, so every rank reports every term
        terms_[name] = 0.0;
        continue;
      }
      term = it->second;
    }
    terms_[name] = term.item<double>();
    total = total.defined() ? total + weight * term : weight * term;
  }
  if (!total.defined()) throw std::runtime_error("no loss term was computed in step " + std::to_string(step));
  return total;
}

}  // namespace ovseg::train
