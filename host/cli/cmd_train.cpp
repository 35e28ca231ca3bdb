// `ovseg train PIPELINE.toml --dataset NAME --data-root DIR --out RUN_DIR`:
// trains the pipeline's trainable parameters as its [train] table says
// (host/train/include/ovseg/train/train_recipe.hpp), resumably; then
// `ovseg eval PIPELINE.toml --weights RUN_DIR/weights.safetensors` evaluates it.
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "commands.hpp"
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

int run_train_cmd(const ParsedArgs& args) {
  for (const char* required : {"--dataset", "--data-root", "--out"})
    if (!args.has(required)) throw UsageError(std::string("ovseg train: ") + required + " is required");
  train::PipelineTrainOptions o;
  o.dataset = args.get("--dataset");
  o.data_root = args.get("--data-root");
  o.out_dir = args.get("--out");
  o.device = args.get("--device", "cpu");
  o.force = args.has("--force");
  o.progress = !args.has("--quiet");
  o.command = join_args(args.positionals[0], args);
  // Test hook (tests/train): SIGKILL after N steps, as a crash or kill -9 would.
  if (const char* k = std::getenv("OVSEG_TRAIN_KILL_AFTER")) o.kill_after = std::atol(k);

  PluginCatalog catalog = load_catalog(args);
  Graph graph = build_graph(load_spec(args.positionals[0], args), catalog);
  const train::PipelineTrainOutcome out = train::train_pipeline(graph, o);
  const auto& r = out.run;
  if (out.already_done) std::cout << "already trained (use --force to train again): " << o.out_dir << "\n";
  char line[256];
  std::snprintf(line, sizeof line, "%lld steps in %.1f s (%.3f s/step), peak memory %.0f MB, loss %.4f -> %.4f\n",
                static_cast<long long>(r["steps"].get<int64_t>()), r["train_seconds"].get<double>(),
                r["seconds_per_step"].get<double>(), r["peak_memory_mb"].get<double>(), r["first_loss"].get<double>(),
                r["final_loss"].get<double>());
  std::cout << "pipeline '" << r["pipeline"]["name"].get<std::string>() << "' on " << r["dataset"]["name"].get<std::string>()
            << " (" << r["dataset"]["seen_classes"].size() << " seen / " << r["dataset"]["unseen_classes"].size()
            << " unseen classes): " << line;
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
  spec.options.push_back({"--out", "RUN_DIR", "run folder: weights.safetensors, run.json, curves.csv/png, checkpoint/", false});
  spec.options.push_back({"--force", "", "train again even if RUN_DIR holds this finished run (or another run)", false});
  spec.options.push_back({"--quiet", "", "no progress line", false});
  spec.details =
      "The recipe is the pipeline's [train] table (steps, batch, lr, schedule, losses, augment,\n"
      "param_groups, unseen_classes, ...): host/train/include/ovseg/train/train_recipe.hpp.\n"
      "Which parameters train: each node's `trainable = [patterns]` (`ovseg params` lists names).\n"
      "Zero-shot: with a seen/unseen split (the data set's, or [train] unseen_classes) the graph sees\n"
      "only the seen classes and unseen pixels are ignored.\n"
      "Rerunning the same command after an interruption resumes exactly from RUN_DIR/checkpoint.";
  return {spec, run_train_cmd};
}

}  // namespace ovseg::cli
