#include "ovseg/host/window_batcher.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <stdexcept>

#include "ovseg/sdk/diagnostics.hpp"
#include "ovseg/sdk/memory_meter.hpp"

namespace ovseg {

namespace {

// Every window of one image has the same size (slide_windows).
std::pair<int, int> crop_size(const std::vector<Window>& windows) {
  return {windows.front().y2 - windows.front().y1, windows.front().x2 - windows.front().x1};
}

}  // namespace

WindowBatcher::WindowBatcher(ProtocolRunner& runner, BatchLimits limits) : runner_(runner), limits_(limits) {
  if (limits_.windows < 0) throw std::invalid_argument("batch windows must be >= 0 (0 = one image per batch)");
  if (!(limits_.memory_mb >= 0)) throw std::invalid_argument("batch memory cap must be >= 0 MB (0 = no cap)");
  stats_.across_images = limits_.windows > 0 && runner_.batches_across_images();
}

std::vector<Prediction> WindowBatcher::add(const at::Tensor& image, int label_h, int label_w,
                                           const ProtocolRunner::Truth* truth) {
  expect_shape(image, {1, 3, -1, -1}, "image for the protocol");
  Pending p;
  p.image = image;
  p.windows = runner_.windows_of(static_cast<int>(image.size(2)), static_cast<int>(image.size(3)));
  p.label_h = label_h;
  p.label_w = label_w;
  if (truth) p.truth = *truth;
  waiting_ += p.windows.size();
  queue_.push_back(std::move(p));
  std::vector<Prediction> finished;
  while (batch_ready()) run_batch(finished);
  return finished;
}

std::vector<Prediction> WindowBatcher::flush() {
  std::vector<Prediction> finished;
  while (waiting_ > 0) run_batch(finished);
  return finished;
}

size_t WindowBatcher::batch_windows() const {
  size_t first_image = 0;  // the waiting windows of the first image with any
  for (const auto& p : queue_)
    if (p.next < p.windows.size()) {
      first_image = p.windows.size() - p.next;
      break;
    }
  if (!stats_.across_images) return first_image;
  size_t n = static_cast<size_t>(limits_.windows);
  if (limits_.memory_mb > 0) {
    if (bytes_per_window_ <= 0)  // nothing measured yet: one window measures it (a whole
      n = 1;                     // image's could already be far above the cap)
    else
      n = std::min(n,
                   static_cast<size_t>(std::max(1.0, std::floor(limits_.memory_mb * (1 << 20) / bytes_per_window_))));
  }
  return std::max<size_t>(1, n);
}

bool WindowBatcher::batch_ready() const {
  if (waiting_ == 0) return false;
  if (!stats_.across_images || waiting_ >= batch_windows()) return true;
  // A batch ends where the crop size changes: the windows before it are
  // as many as there will be.
  std::optional<std::pair<int, int>> size;
  for (const auto& p : queue_) {
    if (p.next == p.windows.size()) continue;
    if (size && crop_size(p.windows) != *size) return true;
    size = crop_size(p.windows);
  }
  return false;
}

void WindowBatcher::run_batch(std::vector<Prediction>& finished) {
  const size_t limit = batch_windows();
  struct Part {
    Pending* image;
    size_t count;
  };
  std::vector<Part> parts;
  std::vector<at::Tensor> crops;
  std::optional<std::pair<int, int>> size;
  for (auto& p : queue_) {
    if (p.next == p.windows.size()) continue;
    if (size && (crop_size(p.windows) != *size || !stats_.across_images)) break;
    size = crop_size(p.windows);
    const size_t first = p.next;
    for (; p.next < p.windows.size() && crops.size() < limit; ++p.next) {
      const Window& w = p.windows[p.next];
      crops.push_back(p.image.slice(2, w.y1, w.y2).slice(3, w.x1, w.x2));
    }
    parts.push_back({&p, p.next - first});
    if (crops.size() >= limit) break;
  }
  // As predict() batches: one crop is the image's slice itself.
  const at::Tensor batch = crops.size() == 1 ? crops[0] : at::cat(crops, 0);
  // Ground truth in the window phase means one image per batch.
  std::map<std::string, PortValue> truth_inputs;
  if (!stats_.across_images) {
    const Pending& p = *parts.front().image;
    truth_inputs = runner_.window_truth(p.truth ? &*p.truth : nullptr, static_cast<int>(p.image.size(2)),
                                        static_cast<int>(p.image.size(3)), p.windows);
  }
  std::vector<NodeTiming> timings;
  at::Tensor outputs;
  int64_t peak = 0;
  {
    TensorMemoryMeter meter;
    outputs = runner_.run_window_phase(batch, std::move(truth_inputs), &timings);
    peak = meter.peak_bytes();
  }
  const auto n = static_cast<int64_t>(crops.size());
  int64_t offset = 0;
  for (const Part& part : parts) {
    const auto count = static_cast<int64_t>(part.count);
    part.image->outputs.push_back(outputs.slice(0, offset, offset + count));
    part.image->done += part.count;
    offset += count;
    // The batch's node times, shared by window count.
    for (const auto& t : timings)
      part.image->timings.push_back({t.node, t.milliseconds * static_cast<double>(count) / static_cast<double>(n)});
  }
  waiting_ -= crops.size();
  bytes_per_window_ = static_cast<double>(peak) / static_cast<double>(n);
  ++stats_.batches;
  stats_.windows += n;
  stats_.largest_batch = std::max(stats_.largest_batch, static_cast<int>(n));
  stats_.window_phase_peak_mb = std::max(stats_.window_phase_peak_mb, static_cast<double>(peak) / (1 << 20));
  stats_.mb_per_window = bytes_per_window_ / (1 << 20);

  while (!queue_.empty() && queue_.front().done == queue_.front().windows.size()) {
    Pending& p = queue_.front();
    const at::Tensor all = p.outputs.size() == 1 ? p.outputs.front() : at::cat(p.outputs, 0);
    finished.push_back(runner_.finish(p.image, p.windows, all, p.label_h, p.label_w, p.truth ? &*p.truth : nullptr,
                                      std::move(p.timings)));
    queue_.pop_front();
  }
}

}  // namespace ovseg
