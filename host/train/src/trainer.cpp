#include "ovseg/train/trainer.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <numeric>
#include <ostream>
#include <sstream>
#include <stdexcept>

#include <csignal>
#include <fstream>
#include <set>

#include <ATen/ATen.h>
#include <torch/optim/adamw.h>
#ifdef OVSEG_TORCH_HAS_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <torch/version.h>
#endif
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/nn/utils/clip_grad.h>
#include "ovseg/sdk/atomic_file.hpp"
#include "ovseg/sdk/glob_match.hpp"

namespace fs = std::filesystem;

namespace ovseg::train {

double TrainResult::recent_loss(size_t n) const {
  if (losses.empty()) return 0;
  n = std::min(n, losses.size());
  return std::accumulate(losses.end() - static_cast<long>(n), losses.end(), 0.0) / static_cast<double>(n);
}

at::Tensor TrainTask::micro_loss(int64_t step, int64_t micro, int64_t micros) {
  if (micros != 1)
    throw std::invalid_argument("train: this task does not split its batch into micro-batches (accumulate must be 1)");
  return loss(step);
}

double scheduled_lr(const TrainOptions& o, int64_t step) {
  const double warmup = o.warmup_steps >= 0
                            ? static_cast<double>(o.warmup_steps)
                            : std::max<double>(1.0, std::round(o.warmup_fraction * static_cast<double>(o.steps)));
  if (step < warmup) return o.lr * (step + 1) / warmup;
  const double progress = std::min(1.0, (step - warmup) / std::max(1.0, o.steps - warmup));
  const double floor = o.lr * o.final_lr_fraction;
  if (o.schedule == "constant") return o.lr;
  if (o.schedule == "poly") return floor + (o.lr - floor) * std::pow(1.0 - progress, o.poly_power);
  return floor + (o.lr - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

void reset_peak_memory(bool cuda) {
  if (cuda) {
#ifdef OVSEG_TORCH_HAS_CUDA
    c10::cuda::CUDACachingAllocator::resetPeakStats(c10::cuda::current_device());
#endif
    return;
  }
  std::ofstream("/proc/self/clear_refs") << "5";
}

double peak_memory_mb(bool cuda) {
  if (cuda) {
#ifdef OVSEG_TORCH_HAS_CUDA
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(c10::cuda::current_device());
#if TORCH_VERSION_MAJOR >= 2  // StatType moved to c10/core/Allocator.h in 2.x
    constexpr auto kAggregate = c10::CachingAllocator::StatType::AGGREGATE;
#else
    constexpr auto kAggregate = c10::cuda::CUDACachingAllocator::StatType::AGGREGATE;
#endif
    return static_cast<double>(stats.allocated_bytes[static_cast<size_t>(kAggregate)].peak) / (1024.0 * 1024.0);
#else
    return 0;
#endif
  }
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  return 0;
}

std::string optimisation_fingerprint(const TrainOptions& o) {
  std::ostringstream os;
  os.precision(17);
  os << "trainer.steps=" << o.steps << "\ntrainer.lr=" << o.lr << "\ntrainer.weight_decay=" << o.weight_decay
     << "\ntrainer.betas=" << o.beta1 << "," << o.beta2 << "\ntrainer.eps=" << o.eps
     << "\ntrainer.schedule=" << o.schedule << "\ntrainer.warmup=" << o.warmup_fraction << " of steps, "
     << o.warmup_steps << " steps"
     << "\ntrainer.final_lr_fraction=" << o.final_lr_fraction << "\ntrainer.poly_power=" << o.poly_power
     << "\ntrainer.grad_clip=" << o.grad_clip_norm << "\ntrainer.accumulate=" << o.accumulate
     << "\ntrainer.seed=" << o.seed;
  for (const auto& g : o.groups)
    os << "\ntrainer.group=" << g.pattern << " lr_mult " << g.lr_mult << " wd "
       << (g.weight_decay ? std::to_string(*g.weight_decay) : std::string("default"));
  return os.str();
}

std::string fingerprint_differences(const std::string& stored, const std::string& current) {
  // Key order of first appearance (the stored text first); repeated keys
  // (e.g. several groups) are compared as one joined value.
  auto parse = [](const std::string& text, std::vector<std::string>& order,
                  std::map<std::string, std::string>& values) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      const size_t eq = line.find('=');
      const std::string key = line.substr(0, eq);
      const std::string value = eq == std::string::npos ? "" : line.substr(eq + 1);
      auto [it, fresh] = values.emplace(key, value);
      if (!fresh) it->second += " | " + value;
      if (std::find(order.begin(), order.end(), key) == order.end()) order.push_back(key);
    }
  };
  std::vector<std::string> order;
  std::map<std::string, std::string> a, b;
  parse(stored, order, a);
  parse(current, order, b);
  std::string out;
  for (const auto& key : order) {
    const auto ia = a.find(key), ib = b.find(key);
    const std::string va = ia == a.end() ? "(absent)" : ia->second, vb = ib == b.end() ? "(absent)" : ib->second;
    if (va == vb) continue;
    out += (out.empty() ? "" : "; ") + key + ": checkpoint has " + va + ", this run has " + vb;
  }
  return out;
}

namespace {

// The caller's fingerprint plus every option that changes the weights.
std::string run_fingerprint(const TrainOptions& o) { return o.fingerprint + "\n" + optimisation_fingerprint(o); }

// Archive keys may not contain dots (they become TorchScript attribute names).
std::string archive_key(const std::string& name) {
  std::string k = "param_";
  for (char c : name) k += (c == '.') ? '|' : c;
  return k;
}

fs::path checkpoint_path(const TrainOptions& o) { return fs::path(o.checkpoint_dir) / "trainer_state.pt"; }

std::string buffer_key(const std::string& name) { return "buffer_" + archive_key(name).substr(6); }

void save_checkpoint(const TrainOptions& o, const NamedTensors& params, const NamedTensors& buffers,
                     torch::optim::AdamW& opt, int64_t next_step) {
  fs::create_directories(o.checkpoint_dir);
  torch::serialize::OutputArchive ar;
  for (const auto& [name, t] : params) ar.write(archive_key(name), t.detach(), /*is_buffer=*/true);
  for (const auto& [name, t] : buffers) ar.write(buffer_key(name), t.detach(), /*is_buffer=*/true);
  ar.write("fingerprint", c10::IValue(run_fingerprint(o)));
  torch::serialize::OutputArchive opt_ar;
  opt.save(opt_ar);
  ar.write("optimizer", opt_ar);
  ar.write("next_step", at::scalar_tensor(static_cast<double>(next_step), at::kDouble), true);
  ar.write("total_steps", at::scalar_tensor(static_cast<double>(o.steps), at::kDouble), true);
  // Written beside, then renamed: an interrupted save leaves the previous
  // checkpoint intact.
  write_atomically(checkpoint_path(o).string(), [&](const std::string& tmp) { ar.save_to(tmp); });
}

int64_t load_checkpoint(const TrainOptions& o, NamedTensors& params, NamedTensors& buffers, torch::optim::AdamW& opt) {
  const fs::path p = checkpoint_path(o);
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(p.string());
  } catch (const std::exception& e) {
    // c10's message is a stack trace; say what is wrong in one line.
    const std::string what = e.what();
    throw std::runtime_error(p.string() + ": unreadable training checkpoint (" + what.substr(0, what.find('\n')) +
                             "); delete it to start over");
  }
  c10::IValue stored_fp;
  const std::string stored = ar.try_read("fingerprint", stored_fp) && stored_fp.isString() ? stored_fp.toStringRef()
                                                                                           : std::string();
  const std::string current = run_fingerprint(o);
  if (stored != current)
    throw std::runtime_error(
        p.string() + ": checkpoint of another run (" +
        (stored.empty() ? std::string("written without a fingerprint") : fingerprint_differences(stored, current)) +
        "); resuming it would train under the old settings. " + o.restart_hint);
  for (auto& [name, t] : buffers) {
    at::Tensor stored_t;
    if (!ar.try_read(buffer_key(name), stored_t, true))
      throw std::runtime_error(p.string() + ": checkpoint has no buffer '" + name + "'");
    at::NoGradGuard no_grad;
    t.copy_(stored_t);
  }
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
                             std::to_string(static_cast<int64_t>(total.item<double>())) + " steps, this run has " +
                             std::to_string(o.steps) + " (the schedule would differ); use another --checkpoint-dir");
  return static_cast<int64_t>(next.item<double>());
}

std::string format_seconds(double s) {
  std::ostringstream os;
  const long t = static_cast<long>(std::max(0.0, s));
  if (t >= 60)
    os << t / 60 << "m" << std::setw(2) << std::setfill('0') << t % 60 << "s";
  else
    os << t << "s";
  return os.str();
}

class Progress {
 public:
  Progress(std::ostream* os, int64_t total) : os_(os), total_(total), tty_(isatty(fileno(stderr))) {}
  void update(int64_t done, int64_t started_at, double loss, double lr, double elapsed, bool last, double peak_mb) {
    if (!os_) return;
    const double rate = (done - started_at) / std::max(1e-9, elapsed);
    const int width = 24, filled = static_cast<int>(width * done / std::max<int64_t>(1, total_));
    std::ostringstream line;
    line << "step " << done << "/" << total_ << " [" << std::string(filled, '#') << std::string(width - filled, '.')
         << "] loss " << std::fixed << std::setprecision(4) << loss << " lr " << std::scientific << std::setprecision(2)
         << lr << std::defaultfloat << " " << std::setprecision(3) << rate << " steps/s";
    if (peak_mb > 0) line << " mem " << static_cast<long>(peak_mb) << " MB";
    line << " ETA " << format_seconds((total_ - done) / std::max(1e-9, rate));
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

// Optimiser groups: per rule (first match wins), then the default split of
// matrices (decayed) and vectors (not). Returns the groups' lr multipliers.
std::vector<double> build_groups(const TrainOptions& o, const NamedTensors& params,
                                 std::vector<torch::optim::OptimizerParamGroup>& groups) {
  const size_t R = o.groups.size();
  std::vector<std::vector<at::Tensor>> by_rule(2 * R + 2);  // rule r: 2r decay, 2r+1 no decay
  std::vector<bool> rule_used(R, false);
  for (const auto& [name, t] : params) {
    size_t slot = 2 * R;
    for (size_t r = 0; r < R; ++r)
      if (glob_match(o.groups[r].pattern, name)) {
        slot = 2 * r;
        rule_used[r] = true;
        break;
      }
    by_rule[slot + (t.dim() >= 2 ? 0 : 1)].push_back(t);
  }
  for (size_t r = 0; r < R; ++r)
    if (!rule_used[r])
      throw std::invalid_argument("train: parameter group '" + o.groups[r].pattern +
                                  "' matches no trainable parameter");
  std::vector<double> mults;
  auto add = [&](std::vector<at::Tensor>& ts, double lr_mult, double wd) {
    if (ts.empty()) return;
    auto opts = std::make_unique<torch::optim::AdamWOptions>(o.lr * lr_mult);
    opts->betas({o.beta1, o.beta2}).eps(o.eps).weight_decay(wd);
    groups.emplace_back(ts, std::move(opts));
    mults.push_back(lr_mult);
  };
  for (size_t r = 0; r < R; ++r) {
    const double wd = o.groups[r].weight_decay.value_or(o.weight_decay);
    add(by_rule[2 * r], o.groups[r].lr_mult, wd);
    add(by_rule[2 * r + 1], o.groups[r].lr_mult, o.groups[r].weight_decay.value_or(0.0));
  }
  add(by_rule[2 * R], 1.0, o.weight_decay);
  add(by_rule[2 * R + 1], 1.0, 0.0);
  return mults;
}

}  // namespace

namespace {

void check_options(const TrainOptions& o) {
  if (o.steps <= 0) throw std::invalid_argument("train: steps must be positive");
  if (o.accumulate < 1) throw std::invalid_argument("train: accumulate must be at least 1");
  if (o.schedule != "cosine" && o.schedule != "poly" && o.schedule != "constant")
    throw std::invalid_argument("train: unknown schedule '" + o.schedule + "' (cosine, poly, constant)");
}

// Back-propagates step `step`'s loss (over o.accumulate micro-batches);
// returns the loss and adds the task's named terms, both averaged over them.
float backward_step(TrainTask& task, const TrainOptions& o, int64_t step, std::map<std::string, double>& terms) {
  float v = 0;
  for (int64_t m = 0; m < o.accumulate; ++m) {
    at::Tensor loss = o.accumulate == 1 ? task.loss(step) : task.micro_loss(step, m, o.accumulate);
    if (loss.numel() != 1) throw std::runtime_error("train: the task's loss is not a scalar");
    if (o.accumulate > 1) loss = loss / static_cast<double>(o.accumulate);
    loss.backward();
    v += loss.item<float>();
    for (const auto& [k, x] : task.last_terms()) terms[k] += x / static_cast<double>(o.accumulate);
  }
  return v;
}

// Data-parallel runs: every rank's gradients (zeros where none), loss and
// terms averaged over the ranks.
void synchronise_ranks(const TrainOptions& o, std::vector<at::Tensor>& params, float& v,
                       std::map<std::string, double>& terms) {
  if (o.sync_gradients) {
    std::vector<at::Tensor> grads;
    for (auto& p : params) {
      if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
      grads.push_back(p.grad());
    }
    o.sync_gradients(grads);
  }
  if (o.average_scalar) {
    v = static_cast<float>(o.average_scalar(v));
    for (auto& [k, x] : terms) x = o.average_scalar(x);
  }
}

// Total 2-norm of the gradients, before clipping.
double gradient_norm(const std::vector<at::Tensor>& params) {
  at::NoGradGuard no_grad;
  double sum = 0;
  for (const auto& p : params)
    if (p.grad().defined()) sum += p.grad().pow(2).sum().item<double>();
  return std::sqrt(sum);
}

}  // namespace

TrainResult train(TrainTask& task, const TrainOptions& o) {
  check_options(o);
  auto params = task.parameters();
  auto buffers = task.buffers();
  if (params.empty()) throw std::invalid_argument("train: nothing to train (no trainable parameters)");
  std::vector<at::Tensor> all_params;
  for (auto& [name, t] : params) {
    t.requires_grad_(true);
    all_params.push_back(t);
  }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  const std::vector<double> lr_mults = build_groups(o, params, groups);
  torch::optim::AdamW opt(groups, torch::optim::AdamWOptions(o.lr));
  const bool cuda = all_params.front().is_cuda();

  TrainResult result;
  if (!o.checkpoint_dir.empty() && o.resume && fs::exists(checkpoint_path(o))) {
    result.start_step = load_checkpoint(o, params, buffers, opt);
    if (o.progress)
      *o.progress << "resuming from " << checkpoint_path(o).string() << " at step " << result.start_step << "\n";
  }

  Progress progress(o.progress, o.steps);
  const auto t0 = std::chrono::steady_clock::now();
  double smoothed = 0;
  int64_t steps_run = 0;
  for (int64_t step = result.start_step; step < o.steps; ++step) {
    const auto s0 = std::chrono::steady_clock::now();
    reset_peak_memory(cuda);
    // Dropout and other sampling inside the task: a function of (seed, step).
    at::manual_seed(static_cast<uint64_t>(o.seed * 1000003ull + static_cast<uint64_t>(step)));
    const double lr = scheduled_lr(o, step);
    auto& pgs = opt.param_groups();
    for (size_t g = 0; g < pgs.size(); ++g)
      static_cast<torch::optim::AdamWOptions&>(pgs[g].options()).lr(lr * lr_mults[g]);
    opt.zero_grad();
    std::map<std::string, double> terms;
    float v = backward_step(task, o, step, terms);
    synchronise_ranks(o, all_params, v, terms);
    const double grad_norm = gradient_norm(all_params);
    if (o.grad_clip_norm > 0) torch::nn::utils::clip_grad_norm_(all_params, o.grad_clip_norm);
    opt.step();
    task.after_step(step);
    if (!std::isfinite(v))
      throw std::runtime_error("train: the loss became " + std::to_string(v) + " at step " + std::to_string(step) +
                               " (lower the learning rate?)");
    result.losses.push_back(v);
    smoothed = result.losses.size() == 1 ? v : 0.9 * smoothed + 0.1 * v;
    const bool last = step + 1 == o.steps;
    if (o.write_checkpoints && !o.checkpoint_dir.empty() && ((step + 1) % o.checkpoint_every == 0 || last))
      save_checkpoint(o, params, buffers, opt, step + 1);
    StepReport report;
    report.step = step;
    report.loss = v;
    report.terms = std::move(terms);
    report.lr = lr;
    report.grad_norm = grad_norm;
    report.peak_memory_mb = peak_memory_mb(cuda);
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();
    result.peak_memory_mb = std::max(result.peak_memory_mb, report.peak_memory_mb);
    if (o.on_step) o.on_step(report);
    if (last || (step + 1) % o.log_every == 0) {
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      progress.update(step + 1, result.start_step, smoothed, lr, el, last, report.peak_memory_mb);
    }
    if (o.kill_after >= 0 && ++steps_run >= o.kill_after) {
      if (o.write_checkpoints && !o.checkpoint_dir.empty()) save_checkpoint(o, params, buffers, opt, step + 1);
      std::raise(SIGKILL);
    }
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (auto& [name, t] : params) t.requires_grad_(false);
  return result;
}

}  // namespace ovseg::train
