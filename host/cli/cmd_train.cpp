// `ovseg train PIPELINE.toml --dataset NAME --data-root DIR --out RUN_DIR`:
// trains the pipeline's trainable parameters as its [train] table says
// (host/train/include/ovseg/train/train_recipe.hpp), resumably; then
// `ovseg eval PIPELINE.toml --weights RUN_DIR/weights.safetensors` evaluates it.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <exception>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "ovseg/host/device.hpp"
#include "ovseg/host/graph.hpp"
#include "ovseg/train/train_pipeline.hpp"

namespace ovseg::cli {

namespace {

std::string join_args(const std::string& pipeline, const ParsedArgs& args) {
  std::string s = "ovseg train " + pipeline;
  for (const auto& [name, values] : args.values)
    for (const auto& v : values) s += " " + name + (v.empty() ? "" : " " + v);
  return s;
}

extern "C" char** environ;

// `--ranks N` on one machine: this process is rank 0 and starts ranks
// 1..N-1 as copies of itself with --rank/--world-size/--store. If any of them
// fails, every rank is stopped (a lone rank would wait at the next reduce).
class LocalRanks {
 public:
  LocalRanks(const std::vector<std::string>& argv, int ranks, const std::string& store) {
    for (int r = 1; r < ranks; ++r) {
      std::vector<std::string> a = argv;
      for (const std::string& extra : {std::string("--rank"), std::to_string(r), std::string("--world-size"),
                                       std::to_string(ranks), std::string("--store"), store, std::string("--quiet")})
        a.push_back(extra);
      std::vector<char*> c;
      for (auto& s : a) c.push_back(s.data());
      c.push_back(nullptr);
      pid_t pid = 0;
      if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, c.data(), environ) != 0)
        throw std::runtime_error("ovseg train: cannot start rank " + std::to_string(r));
      children_.push_back(pid);
    }
    watcher_ = std::thread([this] {
      for (size_t left = children_.size(); left > 0 && !stopping_; --left) {
        int status = 0;
        const pid_t pid = waitpid(-1, &status, 0);
        if (pid <= 0) break;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
          if (stopping_) break;
          std::cerr << "ovseg train: a rank failed ("
                    << (WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                            : "exit " + std::to_string(WEXITSTATUS(status)))
                    << "); stopping every rank\n";
          for (pid_t c : children_) kill(c, SIGKILL);
          _exit(1);
        }
      }
    });
  }
  ~LocalRanks() {
    stopping_ = true;
    // Rank 0 failed: the others would wait for it at the next reduce.
    if (std::uncaught_exceptions() > 0)
      for (pid_t c : children_) kill(c, SIGKILL);
    watcher_.join();  // ends when every child has exited
  }

 private:
  std::vector<pid_t> children_;
  std::thread watcher_;
  std::atomic<bool> stopping_{false};
};

int run_train_cmd(const ParsedArgs& args) {
  for (const char* required : {"--dataset", "--data-root", "--out"})
    if (!args.has(required)) throw UsageError(std::string("ovseg train: ") + required + " is required");
  train::PipelineTrainOptions o;
  o.dataset = args.get("--dataset");
  o.data_root = args.get("--data-root");
  o.out_dir = args.get("--out");
  o.device = args.get("--device", default_device());
  o.force = args.has("--force");
  o.progress = !args.has("--quiet");
  o.command = join_args(args.positionals[0], args);
  // Test hook (tests/train): SIGKILL after N steps, as a crash or kill -9 would.
  if (const char* k = std::getenv("OVSEG_TRAIN_KILL_AFTER")) o.kill_after = std::atol(k);
  if (args.has("--rank") || args.has("--world-size")) {
    o.distributed.rank = static_cast<int>(parse_count("train", "--rank", args.get("--rank", "0")));
    o.distributed.world_size = static_cast<int>(parse_count("train", "--world-size", args.get("--world-size", "1")));
    o.distributed.store = args.get("--store");
    o.distributed.hostname = args.get("--hostname");
    if (o.distributed.world_size > 1 && o.distributed.store.empty())
      throw UsageError("ovseg train: --world-size needs --store FILE (a path every rank can reach)");
  }

  PluginCatalog catalog = load_catalog(args);
  Graph graph = build_graph(load_spec(args.positionals[0], args), catalog);
  std::unique_ptr<LocalRanks> local;
  if (args.has("--ranks") && !args.has("--rank")) {
    const int ranks = static_cast<int>(parse_count("train", "--ranks", args.get("--ranks")));
    if (ranks > 1) {
      if (!train::distributed_available())
        throw std::runtime_error("ovseg train --ranks: this build has no distributed package (Gloo)");
      std::filesystem::create_directories(o.out_dir);
      const std::string store = (std::filesystem::absolute(o.out_dir) / (".ranks." + std::to_string(getpid())))
                                    .string();
      std::filesystem::remove(store);
      std::vector<std::string> argv = {"ovseg", "train", args.positionals[0]};
      for (const auto& [name, values] : args.values)
        if (name != "--ranks" && name != "--force")
          for (const auto& v : values) {
            argv.push_back(name);
            if (!v.empty()) argv.push_back(v);
          }
      o.distributed = {0, ranks, store, ""};
      local = std::make_unique<LocalRanks>(argv, ranks, store);
    }
  }
  const train::PipelineTrainOutcome out = train::train_pipeline(graph, o);
  local.reset();
  if (!o.distributed.store.empty() && o.distributed.rank == 0) std::filesystem::remove(o.distributed.store);
  if (o.distributed.rank != 0) return 0;  // rank 0 reports
  const auto& r = out.run;
  if (out.already_done) std::cout << "already trained (use --force to train again): " << o.out_dir << "\n";
  char line[256];
  std::snprintf(line, sizeof line, "%lld steps in %.1f s (%.3f s/step), peak memory %.0f MB, loss %.4f -> %.4f\n",
                static_cast<long long>(r["steps"].get<int64_t>()), r["train_seconds"].get<double>(),
                r["seconds_per_step"].get<double>(), r["peak_memory_mb"].get<double>(), r["first_loss"].get<double>(),
                r["final_loss"].get<double>());
  std::cout << "pipeline '" << r["pipeline"]["name"].get<std::string>() << "' on "
            << r["dataset"]["name"].get<std::string>() << " (" << r["dataset"]["seen_classes"].size() << " seen / "
            << r["dataset"]["unseen_classes"].size() << " unseen classes): " << line;
  if (!r["val"].empty()) std::cout << "val: " << r["val"].back().dump() << "\n";
  std::cout << "weights " << out.weights_path << " (sha256 " << r["weights"]["sha256"].get<std::string>() << ")\n"
            << "evaluate: ovseg eval " << args.positionals[0] << " --weights " << out.weights_path << " --dataset "
            << o.dataset << " --data-root " << o.data_root << "\n";
  return 0;
}

}  // namespace

Command train_command() {
  CommandSpec spec;
  spec.name = "train";
  spec.summary = "train a pipeline's trainable stages ([train] table); resumable";
  spec.usage = "PIPELINE.toml --dataset NAME --data-root DIR --out RUN_DIR [--set train.steps=500] ...";
  spec.min_positionals = spec.max_positionals = 1;
  spec.options = pipeline_options();
  spec.options.push_back({"--dataset", "NAME", "data set to train on (see ovseg eval --help)", false});
  spec.options.push_back({"--data-root", "DIR", "the data set's folder", false});
  spec.options.push_back(
      {"--out", "RUN_DIR", "run folder: weights.safetensors, run.json, curves.csv/png, checkpoint/", false});
  spec.options.push_back(
      {"--force", "", "train again even if RUN_DIR holds this finished run (or another run)", false});
  spec.options.push_back({"--quiet", "", "no progress line", false});
  spec.options.push_back(
      {"--ranks", "N", "data-parallel on this machine: N processes, each a slice of every batch", false});
  spec.options.push_back(
      {"--rank", "R", "this process's rank, for launchers such as srun (with --world-size, --store)", false});
  spec.options.push_back({"--world-size", "N", "number of ranks", false});
  spec.options.push_back({"--store", "FILE", "rendezvous file every rank can reach (new for each run)", false});
  spec.options.push_back(
      {"--hostname", "HOST", "address this rank binds for the reduction (default 127.0.0.1)", false});
  spec.details =
      "The recipe is the pipeline's [train] table (steps, batch, lr, schedule, losses, augment,\n"
      "param_groups, unseen_classes, ...): host/train/include/ovseg/train/train_recipe.hpp.\n"
      "Which parameters train: each node's `trainable = [patterns]` (`ovseg params` lists names).\n"
      "Zero-shot: with a seen/unseen split (the data set's, or [train] unseen_classes) the graph sees\n"
      "only the seen classes and unseen pixels are ignored.\n"
      "Rerunning the same command after an interruption resumes exactly from RUN_DIR/checkpoint.\n"
      "Data-parallel: --ranks N here, or one process per rank under a launcher, e.g. with Slurm:\n"
      "  srun ovseg train P.toml ... --rank $SLURM_PROCID --world-size $SLURM_NTASKS \\\n"
      "       --store /shared/run.store --hostname $(hostname)";
  return {spec, run_train_cmd};
}

}  // namespace ovseg::cli
