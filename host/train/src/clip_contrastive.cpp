#include "ovseg/train/clip_contrastive.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/sdk/atomic_file.hpp"

namespace fs = std::filesystem;

namespace ovseg::train {

ImageCaptionSet load_image_caption_folder(const std::string& root, const std::string& split) {
  const fs::path dir = fs::path(root) / split;
  const fs::path list = dir / "captions.tsv";
  std::ifstream f(list);
  if (!f) throw std::runtime_error("cannot read caption list " + list.string() + " (write one with `ovseg world`)");
  ImageCaptionSet set;
  std::string line;
  for (int lineno = 1; std::getline(f, line); ++lineno) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const auto tab = line.find('\t');
    if (tab == std::string::npos || tab == 0 || tab + 1 == line.size())
      throw std::runtime_error(list.string() + ":" + std::to_string(lineno) + ": expected 'ID<TAB>caption', got '" +
                               line + "'");
    set.ids.push_back(line.substr(0, tab));
    set.captions.push_back(line.substr(tab + 1));
  }
  if (set.ids.empty()) throw std::runtime_error(list.string() + ": no captions");

  int h = 0, w = 0;
  for (size_t i = 0; i < set.ids.size(); ++i) {
    fs::path p = dir / "images" / (set.ids[i] + ".png");
    if (!fs::exists(p)) p = dir / "images" / (set.ids[i] + ".jpg");
    const cv::Mat bgr = cv::imread(p.string(), cv::IMREAD_COLOR);
    if (bgr.empty()) throw std::runtime_error("cannot read image " + p.string() + " (listed in " + list.string() + ")");
    if (i == 0) {
      h = bgr.rows;
      w = bgr.cols;
      set.images = at::empty({static_cast<int64_t>(set.ids.size()), 3, h, w}, at::kByte);
    } else if (bgr.rows != h || bgr.cols != w) {
      throw std::runtime_error("image " + p.string() + " is " + std::to_string(bgr.cols) + "x" +
                               std::to_string(bgr.rows) + ", the first one is " + std::to_string(w) + "x" +
                               std::to_string(h) + " (training batches need one size)");
    }
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    const at::Tensor hwc = at::from_blob(rgb.data, {h, w, 3}, at::kByte);
    set.images[static_cast<int64_t>(i)].copy_(hwc.permute({2, 0, 1}));
  }
  return set;
}

ClipContrastiveTask::ClipContrastiveTask(std::shared_ptr<models::ClipModel> model, const ImageCaptionSet& data,
                                         const models::ClipTokenizer& tokenizer, ClipContrastiveOptions options)
    : model_(std::move(model)), data_(data), opt_(options) {
  const auto& g = model_->geometry();
  if (data_.images.size(2) % g.patch_size || data_.images.size(3) % g.patch_size)
    throw std::runtime_error("training images are " + std::to_string(data_.images.size(3)) + "x" +
                             std::to_string(data_.images.size(2)) + ", not a multiple of the patch size " +
                             std::to_string(g.patch_size));
  if (opt_.batch < 2 || opt_.batch > static_cast<int64_t>(data_.ids.size()))
    throw std::runtime_error("batch size " + std::to_string(opt_.batch) + " must be in [2, " +
                             std::to_string(data_.ids.size()) + "] (the number of training pairs)");
  const at::Tensor full = tokenizer.tokenize(data_.captions, g.context_length, /*truncate=*/true);
  // The causal text tower never lets a token see the padding after it, so
  // trimming every row to the longest caption changes nothing but the cost.
  const int64_t len = (full != 0).sum(1).max().item<int64_t>();
  tokens_ = full.slice(1, 0, len).contiguous();
  const float init = model_->logit_scale > 0 ? std::log(model_->logit_scale) : std::log(1 / 0.07f);
  logit_scale_log_ = at::scalar_tensor(init, at::kFloat);
}

std::vector<std::pair<std::string, at::Tensor>> ClipContrastiveTask::parameters() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& [name, t] : model_->state_dict())
    if (name != "logit_scale") out.emplace_back(name, t);  // same tensors the model runs
  out.emplace_back("logit_scale", logit_scale_log_);
  return out;
}

std::vector<int64_t> ClipContrastiveTask::batch_indices(int64_t step) {
  const int64_t n = static_cast<int64_t>(data_.ids.size());
  std::vector<int64_t> idx;
  for (int64_t pos = step * opt_.batch; pos < (step + 1) * opt_.batch; ++pos) {
    const int64_t epoch = pos / n;
    if (epoch != cached_epoch_) {  // Fisher-Yates with a fixed engine: identical everywhere
      permutation_.resize(n);
      for (int64_t i = 0; i < n; ++i) permutation_[i] = i;
      std::mt19937_64 g(opt_.seed * 1000003ull + static_cast<uint64_t>(epoch));
      for (int64_t i = n - 1; i > 0; --i) std::swap(permutation_[i], permutation_[g() % (i + 1)]);
      cached_epoch_ = epoch;
    }
    idx.push_back(permutation_[pos % n]);
  }
  return idx;
}

at::Tensor ClipContrastiveTask::loss(int64_t step) {
  const auto idx_vec = batch_indices(step);
  const at::Tensor idx = at::tensor(idx_vec, at::kLong);
  at::Tensor pixels = data_.images.index_select(0, idx).to(at::kFloat).div_(255.0);
  if (opt_.horizontal_flip) {
    std::mt19937_64 g(opt_.seed ^ (0x9e3779b97f4a7c15ull * static_cast<uint64_t>(step + 1)));
    std::vector<int64_t> flip;
    for (int64_t i = 0; i < static_cast<int64_t>(idx_vec.size()); ++i)
      if (g() & 1) flip.push_back(i);
    if (!flip.empty()) {
      const at::Tensor f = at::tensor(flip, at::kLong);
      pixels.index_copy_(0, f, pixels.index_select(0, f).flip({3}));
    }
  }
  pixels = models::normalize_clip_pixels(pixels).to(model_->device());
  const at::Tensor ids = tokens_.index_select(0, idx).to(model_->device());
  const at::Tensor img = model_->encode_image(pixels);
  const at::Tensor txt = model_->encode_text(ids);
  const at::Tensor img_n = img / img.norm(2, -1, true);
  const at::Tensor txt_n = txt / txt.norm(2, -1, true);
  const at::Tensor logits = logit_scale_log_.exp() * at::matmul(img_n, txt_n.t());
  const at::Tensor target = at::arange(logits.size(0), at::TensorOptions().dtype(at::kLong).device(logits.device()));
  return 0.5 * (at::cross_entropy_loss(logits, target) + at::cross_entropy_loss(logits.t(), target));
}

void ClipContrastiveTask::after_step(int64_t) {
  at::NoGradGuard no_grad;
  logit_scale_log_.clamp_(0.0, std::log(100.0));  // CLIP clamps the scale at 100
}

float ClipContrastiveTask::logit_scale() const { return std::exp(logit_scale_log_.item<float>()); }

models::StateDict ClipContrastiveTask::state_dict() const {
  models::StateDict sd = model_->state_dict();
  sd["logit_scale"] = logit_scale_log_.detach().clone();
  return sd;
}

void save_clip_fp16_safetensors(const std::string& path, const models::StateDict& sd,
                                const std::map<std::string, std::string>& metadata) {
  models::StateDict half;
  for (const auto& [k, t] : sd) half[k] = t.detach().to(at::kCPU).to(at::kHalf).contiguous();
  write_atomically(path, [&](const std::string& tmp) { models::save_safetensors(tmp, half, metadata); });
}

}  // namespace ovseg::train
