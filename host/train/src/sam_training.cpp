#include "ovseg/train/sam_training.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>

#include <ATen/ATen.h>

#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/models/sam_predictor.hpp"
#include "ovseg/sdk/atomic_file.hpp"

namespace fs = std::filesystem;

namespace ovseg::train {

at::Tensor sam_focal_loss(const at::Tensor& logits, const at::Tensor& targets, double alpha, double gamma) {
  // torchvision.ops.sigmoid_focal_loss, averaged over the pixels of each mask.
  const at::Tensor t = targets.to(logits.scalar_type());
  const at::Tensor p = at::sigmoid(logits);
  const at::Tensor ce = at::binary_cross_entropy_with_logits(logits, t, {}, {}, at::Reduction::None);
  const at::Tensor p_t = p * t + (1 - p) * (1 - t);
  at::Tensor loss = ce * at::pow(1 - p_t, gamma);
  if (alpha >= 0) loss = (alpha * t + (1 - alpha) * (1 - t)) * loss;
  return loss.flatten(-2).mean(-1);
}

at::Tensor sam_dice_loss(const at::Tensor& logits, const at::Tensor& targets) {
  const at::Tensor p = at::sigmoid(logits).flatten(-2);
  const at::Tensor t = targets.to(logits.scalar_type()).flatten(-2);
  return 1 - (2 * (p * t).sum(-1) + 1) / (p.sum(-1) + t.sum(-1) + 1);
}

namespace {

// True IoU of binarised logits (B,M,H,W) with targets (B,H,W): (B,M).
at::Tensor mask_iou(const at::Tensor& logits, const at::Tensor& gt) {
  const at::Tensor pred = logits > 0, g = gt.unsqueeze(1);
  const at::Tensor inter = (pred & g).sum({-1, -2}).to(at::kFloat);
  const at::Tensor uni = (pred | g).sum({-1, -2}).to(at::kFloat);
  return inter / uni.clamp_min(1);
}

struct Click {
  double x = 0, y = 0;
  int64_t label = -1;  // -1: no click (padding)
};

// A uniformly drawn pixel of `region` (H,W) bool, or nullopt when empty.
std::optional<std::pair<int64_t, int64_t>> draw_pixel(const at::Tensor& region, std::mt19937_64& rng) {
  const at::Tensor idx = region.flatten().nonzero();
  if (idx.size(0) == 0) return std::nullopt;
  const int64_t k = idx[static_cast<int64_t>(rng() % static_cast<uint64_t>(idx.size(0)))][0].item<int64_t>();
  return std::make_pair(k % region.size(1), k / region.size(1));  // x, y
}

double gauss(std::mt19937_64& rng) {  // Box-Muller on the fixed engine: identical everywhere
  const double u1 = ((rng() >> 11) + 1) * 0x1.0p-53, u2 = (rng() >> 11) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

// Sam.preprocess on (B,S,S,3) uint8 images of the model's size (no resize,
// no padding needed): (B,3,S,S) normalised floats.
at::Tensor sam_pixels(const std::vector<at::Tensor>& imgs) {
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  const at::Tensor mean = at::tensor({float(models::kSamPixelMean[0]), float(models::kSamPixelMean[1]),
                                      float(models::kSamPixelMean[2])},
                                     f32)
                              .view({1, 3, 1, 1});
  const at::Tensor stdv = at::tensor({float(models::kSamPixelStd[0]), float(models::kSamPixelStd[1]),
                                      float(models::kSamPixelStd[2])},
                                     f32)
                              .view({1, 3, 1, 1});
  return (at::stack(imgs).permute({0, 3, 1, 2}) - mean) / stdv;
}

// The first prompt as a box: each target's bounding box with Gaussian noise
// of 10% of its side (at most 20 px) on every coordinate. (B,4) CPU floats.
at::Tensor noisy_boxes(const at::Tensor& gt, int64_t S, std::mt19937_64& rng) {
  const int64_t B = gt.size(0);
  at::Tensor boxes = at::empty({B, 4}, at::kFloat);
  auto a = boxes.accessor<float, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const at::Tensor ys = gt[b].any(1).nonzero(), xs = gt[b].any(0).nonzero();
    const double x0 = xs.min().item<double>(), x1 = xs.max().item<double>();
    const double y0 = ys.min().item<double>(), y1 = ys.max().item<double>();
    auto noisy = [&](double v, double side) { return v + std::clamp(gauss(rng) * 0.1 * side, -20.0, 20.0); };
    const double w = x1 - x0 + 1, h = y1 - y0 + 1;
    a[b][0] = static_cast<float>(std::clamp(noisy(x0, w), 0.0, S - 1.0));
    a[b][1] = static_cast<float>(std::clamp(noisy(y0, h), 0.0, S - 1.0));
    a[b][2] = static_cast<float>(std::clamp(noisy(x1, w), 0.0, S - 1.0));
    a[b][3] = static_cast<float>(std::clamp(noisy(y1, h), 0.0, S - 1.0));
  }
  return boxes;
}

// The clicks so far as SAM's point prompt: (B,n,2) coordinates and (B,n)
// labels on `dev`; undefined tensors when there are none.
std::pair<at::Tensor, at::Tensor> click_prompt(const std::vector<std::vector<Click>>& clicks, const at::Device& dev) {
  const size_t n = clicks[0].size();
  if (n == 0) return {};
  const auto B = static_cast<int64_t>(clicks.size());
  at::Tensor points = at::empty({B, static_cast<int64_t>(n), 2}, at::kFloat);
  at::Tensor labels = at::empty({B, static_cast<int64_t>(n)}, at::kLong);
  auto pa = points.accessor<float, 3>();
  auto la = labels.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b)
    for (size_t k = 0; k < n; ++k) {
      pa[b][k][0] = static_cast<float>(clicks[b][k].x);
      pa[b][k][1] = static_cast<float>(clicks[b][k].y);
      la[b][k] = clicks[b][k].label;
    }
  return {points.to(dev), labels.to(dev)};
}

// One corrective click per sample, drawn from the error region of the
// predicted mask `pred` (B,S,S) bool: positive where the target was missed,
// negative where the mask spilled over; a padding click when it is perfect.
void add_corrective_clicks(const at::Tensor& pred, const at::Tensor& gt, std::mt19937_64& rng,
                           std::vector<std::vector<Click>>& clicks) {
  for (int64_t b = 0; b < pred.size(0); ++b) {
    const at::Tensor err = pred[b] ^ gt[b];
    const auto p = draw_pixel(err, rng);
    if (!p) {  // perfect: nothing to correct
      clicks[b].push_back({0, 0, -1});
      continue;
    }
    const bool missed = gt[b][p->second][p->first].item<bool>();
    clicks[b].push_back({static_cast<double>(p->first), static_cast<double>(p->second), missed ? 1 : 0});
  }
}

}  // namespace

SamInteractiveTask::SamInteractiveTask(std::shared_ptr<models::SamModel> model, const InstanceSet& data,
                                       SamTrainOptions options)
    : model_(std::move(model)), data_(data), opt_(options) {
  const int64_t S = model_->geometry().image_size;
  if (data_.images.size(1) != S || data_.images.size(2) != S)
    throw std::runtime_error("training images are " + std::to_string(data_.images.size(2)) + "x" +
                             std::to_string(data_.images.size(1)) + ", the model's input is " + std::to_string(S) +
                             "x" + std::to_string(S) + " -- fix: write the scenes at that size (ovseg world --size " +
                             std::to_string(S) + ")");
  if (opt_.batch < 1 || opt_.points < 0 || opt_.refinements < 0)
    throw std::runtime_error("batch must be positive, points and refinements non-negative");
  for (int64_t i = 0; i < data_.instances.size(0); ++i)
    for (int64_t id : instance_ids(data_.instances[i], opt_.min_area)) pairs_.emplace_back(i, id);
  if (pairs_.empty())
    throw std::runtime_error("no instance of at least " + std::to_string(opt_.min_area) +
                             " pixels in the training set");
}

NamedTensors SamInteractiveTask::parameters() {
  const auto buffers = model_->buffer_names();
  const std::set<std::string> skip(buffers.begin(), buffers.end());
  NamedTensors out;
  for (auto& [name, t] : model_->state_dict())  // the very tensors the model runs
    if (!skip.count(name) && t.is_floating_point()) out.emplace_back(name, t);
  return out;
}

std::vector<std::pair<int64_t, int64_t>> SamInteractiveTask::batch_samples(int64_t step) {
  const int64_t n = static_cast<int64_t>(pairs_.size());
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t pos = step * opt_.batch; pos < (step + 1) * opt_.batch; ++pos) {
    const int64_t epoch = pos / n;
    if (epoch != cached_epoch_) {  // Fisher-Yates with a fixed engine
      permutation_.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) permutation_[i] = i;
      std::mt19937_64 g(opt_.seed * 1000003ull + static_cast<uint64_t>(epoch) + 17);
      for (int64_t i = n - 1; i > 0; --i) std::swap(permutation_[i], permutation_[g() % (i + 1)]);
      cached_epoch_ = epoch;
    }
    out.push_back(pairs_[permutation_[pos % n]]);
  }
  return out;
}

at::Tensor SamInteractiveTask::loss(int64_t step) {
  const auto samples = batch_samples(step);
  const int64_t B = static_cast<int64_t>(samples.size());
  const auto& geo = model_->geometry();
  const int64_t S = geo.image_size;
  std::mt19937_64 rng(opt_.seed ^ (0x9e3779b97f4a7c15ull * static_cast<uint64_t>(step + 1)));

  // Images and target masks, flipped per sample.
  std::vector<at::Tensor> imgs, gts;
  for (const auto& [i, id] : samples) {
    at::Tensor img = data_.images[i], gt = data_.instances[i] == id;
    if (opt_.horizontal_flip && (rng() & 1)) img = img.flip({1}), gt = gt.flip({1});
    imgs.push_back(img);
    gts.push_back(gt);
  }
  const at::Device dev = model_->device();
  const at::Tensor gt = at::stack(gts);  // (B,S,S) bool, CPU
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  const at::Tensor embeddings = model_->encode_image(sam_pixels(imgs).to(dev));
  const models::SamFrame frame = models::sam_frame(S, S, S);
  const at::Tensor gt_dev = gt.to(dev);

  // The first prompt: a point from the mask, or its noisy box.
  const bool use_box = (rng() & 1) != 0;
  std::vector<std::vector<Click>> clicks(static_cast<size_t>(B));
  at::Tensor boxes;
  if (use_box) {
    boxes = noisy_boxes(gt, S, rng).to(dev);
  } else {
    for (int64_t b = 0; b < B; ++b) {
      const auto p = draw_pixel(gt[b], rng);
      clicks[b].push_back({static_cast<double>(p->first), static_cast<double>(p->second), 1});
    }
  }

  const int64_t iterations = 1 + opt_.points + opt_.refinements;
  at::Tensor total = at::zeros({}, f32.device(dev));
  at::Tensor mask_prompt;  // previous low-res logits (B,1,4g,4g), detached
  double focal_sum = 0, dice_sum = 0, mse_sum = 0, last_iou = 0;
  for (int64_t it = 0; it < iterations; ++it) {
    const auto [points, labels] = click_prompt(clicks, dev);
    const bool multimask = it == 0;  // one prompt: ambiguous, three masks
    const auto prompts = model_->encode_prompts(points, labels, boxes, mask_prompt);
    const auto out = model_->decode_masks(embeddings, prompts, multimask);
    const at::Tensor logits = models::sam_postprocess_masks(out.low_res_masks, frame);  // (B,M,S,S)
    const at::Tensor target = gt_dev.unsqueeze(1).expand_as(logits);
    const at::Tensor focal = sam_focal_loss(logits, target), dice = sam_dice_loss(logits, target);  // (B,M)
    const at::Tensor true_iou = mask_iou(logits.detach(), gt_dev);                                  // (B,M)
    const at::Tensor iou_mse = (out.iou_predictions - true_iou).pow(2);
    const at::Tensor mask_loss = opt_.focal_weight * focal + opt_.dice_weight * dice;
    // Ambiguity: only the best of the three masks learns; the IoU head learns on all.
    const at::Tensor best = std::get<1>(mask_loss.detach().min(1, /*keepdim=*/true));
    const at::Tensor step_loss = mask_loss.gather(1, best).squeeze(1) + opt_.iou_weight * iou_mse.mean(1);
    total = total + step_loss.mean();
    focal_sum += focal.gather(1, best).mean().item<double>();
    dice_sum += dice.gather(1, best).mean().item<double>();
    mse_sum += iou_mse.mean().item<double>();
    if (it == iterations - 1) last_iou = true_iou.gather(1, best).mean().item<double>();

    // The next iteration sees the mask SAM would pick (highest predicted IoU).
    const at::Tensor pick = out.iou_predictions.detach().argmax(1, /*keepdim=*/true);  // (B,1)
    mask_prompt = out.low_res_masks.detach().gather(
        1, pick.view({B, 1, 1, 1}).expand({B, 1, out.low_res_masks.size(2), out.low_res_masks.size(3)}));
    if (it >= opt_.points) continue;  // the remaining iterations add no click
    const at::Tensor pred =
        logits.detach().gather(1, pick.view({B, 1, 1, 1}).expand({B, 1, S, S})).squeeze(1).gt(0).to(at::kCPU);
    add_corrective_clicks(pred, gt, rng, clicks);
  }
  terms_ = {{"focal", focal_sum / iterations},
            {"dice", dice_sum / iterations},
            {"iou_mse", mse_sum / iterations},
            {"mask_iou", last_iou}};
  return total / static_cast<double>(iterations);
}

void save_sam_fp16_safetensors(const std::string& path, const models::SamModel& model,
                               const std::map<std::string, std::string>& metadata) {
  models::StateDict half;
  for (const auto& [k, t] : model.state_dict())
    half[k] = t.is_floating_point() ? t.detach().to(at::kCPU).to(at::kHalf).contiguous() : t.detach().to(at::kCPU);
  write_atomically(path, [&](const std::string& tmp) { models::save_safetensors(tmp, half, metadata); });
}

}  // namespace ovseg::train
