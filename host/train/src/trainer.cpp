#include "ovseg/train/trainer.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <numeric>
#include <ostream>
#include <sstream>
#include <stdexcept>

#include <torch/optim/adamw.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/nn/utils/clip_grad.h>

namespace fs = std::filesystem;

namespace ovseg::train {

double TrainResult::recent_loss(size_t n) const {
  if (losses.empty()) return 0;
  n = std::min(n, losses.size());
  return std::accumulate(losses.end() - static_cast<long>(n), losses.end(), 0.0) / static_cast<double>(n);
}

double scheduled_lr(const TrainOptions& o, int64_t step) {
  const double warmup = std::max<double>(1.0, std::round(o.warmup_fraction * static_cast<double>(o.steps)));
  if (step < warmup) return o.lr * (step + 1) / warmup;
  const double progress = (step - warmup) / std::max(1.0, o.steps - warmup);
  const double floor = o.lr * o.final_lr_fraction;
  return floor + (o.lr - floor) * 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, progress)));
}

namespace {

// Archive keys may not contain dots (they become TorchScript attribute names).
std::string archive_key(const std::string& name) {
  std::string k = "param_";
  for (char c : name) k += (c == '.') ? '|' : c;
  return k;
}

fs::path checkpoint_path(const TrainOptions& o) { return fs::path(o.checkpoint_dir) / "trainer_state.pt"; }

void save_checkpoint(const TrainOptions& o, const std::vector<std::pair<std::string, at::Tensor>>& params,
                     torch::optim::AdamW& opt, int64_t next_step) {
  fs::create_directories(o.checkpoint_dir);
  torch::serialize::OutputArchive ar;
  for (const auto& [name, t] : params) ar.write(archive_key(name), t.detach(), /*is_buffer=*/true);
  torch::serialize::OutputArchive opt_ar;
  opt.save(opt_ar);
  ar.write("optimizer", opt_ar);
  ar.write("next_step", at::scalar_tensor(static_cast<double>(next_step), at::kDouble), true);
  ar.write("total_steps", at::scalar_tensor(static_cast<double>(o.steps), at::kDouble), true);
  // Written beside, then renamed: an interrupted save leaves the previous
  // checkpoint intact.
  const fs::path final_path = checkpoint_path(o), tmp = final_path.string() + ".tmp";
  ar.save_to(tmp.string());
  fs::rename(tmp, final_path);
}

int64_t load_checkpoint(const TrainOptions& o, std::vector<std::pair<std::string, at::Tensor>>& params,
                        torch::optim::AdamW& opt) {
  const fs::path p = checkpoint_path(o);
  torch::serialize::InputArchive ar;
  ar.load_from(p.string());
  for (auto& [name, t] : params) {
    at::Tensor stored;
    if (!ar.try_read(archive_key(name), stored, true))
      throw std::runtime_error(p.string() + ": checkpoint has no tensor '" + name +
                               "' (written by a different model?)");
    if (!stored.sizes().equals(t.sizes()))
      throw std::runtime_error(p.string() + ": tensor '" + name + "' is stored with a different shape");
    at::NoGradGuard no_grad;
    t.copy_(stored);
  }
  torch::serialize::InputArchive opt_ar;
  ar.read("optimizer", opt_ar);
  opt.load(opt_ar);
  at::Tensor next, total;
  ar.read("next_step", next, true);
  ar.read("total_steps", total, true);
  if (static_cast<int64_t>(total.item<double>()) != o.steps)
    throw std::runtime_error(p.string() + ": checkpoint belongs to a run of " +
                             std::to_string(static_cast<int64_t>(total.item<double>())) +
                             " steps, this run has " + std::to_string(o.steps) +
                             " (the schedule would differ); use another --checkpoint-dir");
  return static_cast<int64_t>(next.item<double>());
}

std::string format_seconds(double s) {
  std::ostringstream os;
  const long t = static_cast<long>(std::max(0.0, s));
  if (t >= 60) os << t / 60 << "m" << std::setw(2) << std::setfill('0') << t % 60 << "s";
  else os << t << "s";
  return os.str();
}

class Progress {
 public:
  Progress(std::ostream* os, int64_t total) : os_(os), total_(total), tty_(isatty(fileno(stderr))) {}
  void update(int64_t done, int64_t started_at, double loss, double lr, double elapsed, bool last) {
    if (!os_) return;
    const double rate = (done - started_at) / std::max(1e-9, elapsed);
    const int width = 24, filled = static_cast<int>(width * done / std::max<int64_t>(1, total_));
    std::ostringstream line;
    line << "step " << done << "/" << total_ << " [" << std::string(filled, '#')
         << std::string(width - filled, '.') << "] loss " << std::fixed << std::setprecision(4) << loss
         << " lr " << std::scientific << std::setprecision(2) << lr << std::defaultfloat << " "
         << std::setprecision(3) << rate << " steps/s ETA " << format_seconds((total_ - done) / std::max(1e-9, rate));
    if (tty_) {
      *os_ << "\r" << line.str() << "   " << (last ? "\n" : "") << std::flush;
    } else if (last || done >= next_line_) {  // logs: about ten lines per run
      *os_ << line.str() << "\n" << std::flush;
      next_line_ = done + std::max<int64_t>(1, total_ / 10);
    }
  }

 private:
  std::ostream* os_;
  int64_t total_;
  bool tty_;
  int64_t next_line_ = 0;
};

}  // namespace

TrainResult train(TrainTask& task, const TrainOptions& o) {
  if (o.steps <= 0) throw std::invalid_argument("train: steps must be positive");
  auto params = task.parameters();
  std::vector<at::Tensor> decay, no_decay, all_params;
  for (auto& [name, t] : params) {
    t.requires_grad_(true);
    (t.dim() >= 2 ? decay : no_decay).push_back(t);
    all_params.push_back(t);
  }
  auto group_options = [&](double wd) {
    auto opts = std::make_unique<torch::optim::AdamWOptions>(o.lr);
    opts->betas({o.beta1, o.beta2}).eps(o.eps).weight_decay(wd);
    return opts;
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, group_options(o.weight_decay));
  groups.emplace_back(no_decay, group_options(0.0));
  torch::optim::AdamW opt(groups, torch::optim::AdamWOptions(o.lr));

  TrainResult result;
  if (!o.checkpoint_dir.empty() && o.resume && fs::exists(checkpoint_path(o))) {
    result.start_step = load_checkpoint(o, params, opt);
    if (o.progress)
      *o.progress << "resuming from " << checkpoint_path(o).string() << " at step " << result.start_step << "\n";
  }

  Progress progress(o.progress, o.steps);
  const auto t0 = std::chrono::steady_clock::now();
  double smoothed = 0;
  for (int64_t step = result.start_step; step < o.steps; ++step) {
    const double lr = scheduled_lr(o, step);
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    opt.zero_grad();
    at::Tensor loss = task.loss(step);
    if (loss.numel() != 1) throw std::runtime_error("train: the task's loss is not a scalar");
    loss.backward();
    if (o.grad_clip_norm > 0) torch::nn::utils::clip_grad_norm_(all_params, o.grad_clip_norm);
    opt.step();
    task.after_step(step);
    const float v = loss.item<float>();
    if (!std::isfinite(v))
      throw std::runtime_error("train: the loss became " + std::to_string(v) + " at step " +
                               std::to_string(step) + " (lower --lr?)");
    result.losses.push_back(v);
    smoothed = result.losses.size() == 1 ? v : 0.9 * smoothed + 0.1 * v;
    const bool last = step + 1 == o.steps;
    if (!o.checkpoint_dir.empty() && ((step + 1) % o.checkpoint_every == 0 || last))
      save_checkpoint(o, params, opt, step + 1);
    if (last || (step + 1) % o.log_every == 0) {
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      progress.update(step + 1, result.start_step, smoothed, lr, el, last);
    }
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (auto& [name, t] : params) t.requires_grad_(false);
  return result;
}

}  // namespace ovseg::train
