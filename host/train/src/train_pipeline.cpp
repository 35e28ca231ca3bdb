#include "ovseg/train/train_pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x
#include <torch/version.h>

#include "curve_plot.hpp"
#include "ovseg/harness/confusion_matrix.hpp"
#include "ovseg/harness/zero_shot.hpp"
#include "ovseg/host/device.hpp"
#include "ovseg/host/eval_run.hpp"
#include "ovseg/host/inference.hpp"
#include "ovseg/host/results_store.hpp"
#include "ovseg/models/model_zoo.hpp"
#include "ovseg/models/sha256.hpp"
#include "ovseg/sdk/diagnostics.hpp"
#include "ovseg/sdk/runtime.hpp"
#include "ovseg/train/losses.hpp"
#include "pipeline_train_task.hpp"

namespace ovseg::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kRunKind = "ovseg-train-run";

// Every loss the recipe weights must exist: a built-in pixel loss, or an
// auxiliary loss a node of the graph declares.
void check_loss_names(const Graph& graph, const TrainRecipe& recipe) {
  std::vector<std::string> known = pixel_loss_names();
  for (const auto& node : graph.nodes)
    for (const auto& l : node.plugin->descriptor.losses) known.push_back(node.id + "." + l.name);
  for (const auto& [name, weight] : recipe.losses) {
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    auto it = graph.spec.train.find("losses." + name);
    const SourceLocation where = it != graph.spec.train.end() ? it->second.where
                                                              : SourceLocation{graph.spec.file, 0, 0};
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    throw Error(where, "", "unknown loss '" + name + "' in [train.losses]" + did_you_mean(name, known),
                "losses here: " + list);
  }
}

// What the weights depend on besides the recipe: the graph as resolved
// (plugins, parameters, wiring, trainable patterns, initial weights), the
// data and the device. [train] keys that do not change the weights (eval,
// checkpoints, cache) are deliberately not part of it.
std::string graph_fingerprint(const Graph& graph) {
  std::ostringstream os;
  for (const auto& node : graph.nodes) {
    os << "\nnode." << node.id << "=" << node.plugin->descriptor.name;
    for (const auto& [k, v] : node.params.all()) os << " " << k << "=" << format_param_value(v);
    for (const auto& [port, ref] : node.inputs) os << " <" << port << "=" << ref.str(graph);
    if (node.trainable) {
      os << " trainable=";
      for (const auto& p : *node.trainable) os << p << ";";
    }
    if (!node.weights.empty())
      os << " weights="
         << (std::filesystem::is_regular_file(node.weights) ? models::cached_file_sha256(node.weights) : node.weights);
  }
  os << "\noutputs.logits=" << graph.logits_output.str(graph);
  return os.str();
}

// One digest of every frozen parameter's bytes: equal before and after a run
// proves training touched only the declared subset (a stage that writes into
// its weights in place would show here).
std::string frozen_digest(const std::vector<LearnableTensor>& tensors) {
  models::Sha256 h;
  for (const auto& t : tensors) {
    if (t.trainable || t.buffer) continue;
    const at::Tensor c = t.tensor.detach().to(at::kCPU).contiguous();
    h.update(t.key().data(), t.key().size());
    h.update(c.data_ptr(), c.numel() * c.element_size());
  }
  return h.hex_digest();
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Rows of a CSV written by this run, with the header; rows whose first field
// (a step count) is >= `from` are dropped: a resumed run writes them again.
void truncate_csv(const fs::path& p, int64_t from) {
  if (!fs::exists(p)) return;
  std::istringstream in(read_text(p));
  std::string line, kept;
  bool header = true;
  while (std::getline(in, line)) {
    if (!header) {
      int64_t step = 0;
      try {
        step = std::stoll(line.substr(0, line.find(',')));
      } catch (const std::exception&) {
        continue;
      }
      if (step >= from) continue;
    }
    kept += line + "\n";
    header = false;
  }
  std::ofstream(p, std::ios::trunc) << kept;
}

std::vector<std::vector<double>> read_csv_numbers(const fs::path& p, std::vector<std::string>* header) {
  std::istringstream in(read_text(p));
  std::string line;
  std::vector<std::vector<double>> rows;
  bool first = true;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ls(line);
    std::string cell;
    while (std::getline(ls, cell, ',')) cells.push_back(cell);
    if (first) {
      if (header) *header = cells;
      first = false;
      continue;
    }
    std::vector<double> row;
    for (const auto& c : cells) row.push_back(c.empty() ? std::nan("") : std::strtod(c.c_str(), nullptr));
    rows.push_back(row);
  }
  return rows;
}

std::string csv_number(double v) {
  if (!std::isfinite(v)) return "";
  std::ostringstream os;
  os.precision(8);
  os << v;
  return os.str();
}

// The periodic evaluation: the trained weights as they are, copied into a
// second executor built with the data set's full vocabulary (the training
// executor only knows the seen classes), through the eval harness.
class Validator {
 public:
  Validator(const Graph& graph, const PipelineTrainOptions& o, const TrainRecipe& recipe,
            const harness::ZeroShotSplit& split)
      : graph_(graph), recipe_(recipe), split_(split) {
    ds_ = harness::make_dataset(o.dataset, o.data_root, recipe.val_split);
    executor_ = std::make_shared<Executor>(graph, o.device, ds_->class_names(), split.unseen);
    runner_ = std::make_unique<ProtocolRunner>(graph, parse_protocol(graph.spec), executor_);
    unseen_ = harness::unseen_mask(split, ds_->display_class_names());
  }

  // Empty when the trained tensors fit this executor's; else why not (a stage
  // whose parameters depend on the vocabulary, e.g. one weight row per class,
  // cannot be evaluated on classes it never had).
  std::string incompatibility(Executor& trained) {
    std::map<std::string, at::Tensor> mine;
    for (const auto& t : executor_->learnable_tensors()) mine[t.key()] = t.tensor;
    for (const auto& t : trained.learnable_tensors()) {
      if (!t.trainable && !t.buffer) continue;
      auto it = mine.find(t.key());
      if (it == mine.end() || !it->second.sizes().equals(t.tensor.sizes()))
        return "'" + t.key() + "' is " + shape_string(t.tensor) + " when trained on the seen classes but " +
               (it == mine.end() ? std::string("absent") : shape_string(it->second)) +
               " with the evaluation vocabulary: the stage's weights depend on the class list";
    }
    return "";
  }

  json evaluate(Executor& trained, int64_t steps_done) {
    sync_weights(trained);
    const Protocol& protocol = runner_->protocol();
    harness::ConfusionMatrix cm(ds_->num_classes());
    const size_t n = std::min<size_t>(ds_->size(), static_cast<size_t>(recipe_.val_images));
    for (size_t i = 0; i < n; ++i) {
      harness::Sample s = ds_->sample(i, true);
      Prediction p;
      if (runner_->ground_truth_used().any()) {
        // An oracle pipeline (input.labels / input.instances on a required
        // port) validates on each image's truth, as ovseg eval runs it.
        auto to_long = [](const cv::Mat& m) {
          CV_Assert(m.type() == CV_32SC1 && m.isContinuous());
          return at::from_blob(const_cast<uchar*>(m.data), {m.rows, m.cols}, at::kInt).to(at::kLong);
        };
        ProtocolRunner::Truth truth;
        truth.labels = to_long(s.label);
        if (!s.instances.empty()) truth.instances = to_long(s.instances);
        truth.class_names = ds_->display_class_names();
        p = runner_->predict(preprocess_image(s.image, protocol), s.label.rows, s.label.cols, &truth);
      } else {
        p = runner_->predict(preprocess_image(s.image, protocol), s.label.rows, s.label.cols);
      }
      at::Tensor pred32 = p.labels.to(at::kInt).contiguous();
      cm.add(s.label, cv::Mat(s.label.rows, s.label.cols, CV_32S, pred32.data_ptr<int32_t>()), ds_->ignore_index());
    }
    const auto m = harness::compute_metrics(cm);
    json row = {{"step", steps_done}, {"images", n}, {"mIoU", std::isnan(m.miou) ? json(nullptr) : json(m.miou)}};
    if (!split_.empty()) {
      const auto z = harness::zero_shot_metrics(m, unseen_);
      auto num = [](double x) { return std::isnan(x) ? json(nullptr) : json(x); };
      row["mIoU_seen"] = num(z.seen_miou);
      row["mIoU_unseen"] = num(z.unseen_miou);
      row["hIoU"] = num(z.hiou);
    }
    return row;
  }

 private:
  void sync_weights(Executor& trained) {
    std::map<std::string, at::Tensor> mine;
    for (const auto& t : executor_->learnable_tensors()) mine[t.key()] = t.tensor;
    at::NoGradGuard no_grad;
    for (const auto& t : trained.learnable_tensors())
      if (t.trainable || t.buffer) mine.at(t.key()).copy_(t.tensor.detach());
  }

  const Graph& graph_;
  const TrainRecipe& recipe_;
  harness::ZeroShotSplit split_;
  std::unique_ptr<harness::Dataset> ds_;
  std::shared_ptr<Executor> executor_;
  std::unique_ptr<ProtocolRunner> runner_;
  std::vector<bool> unseen_;
};

std::string val_csv_row(const json& row) {
  auto get = [&](const char* k) { return row.contains(k) && row[k].is_number() ? row[k].get<double>() : std::nan(""); };
  return std::to_string(row.at("step").get<int64_t>()) + "," + csv_number(get("mIoU")) + "," +
         csv_number(get("mIoU_seen")) + "," + csv_number(get("mIoU_unseen")) + "," + csv_number(get("hIoU")) + "\n";
}

void plot_run(const fs::path& dir, const std::vector<std::string>& loss_names) {
  std::vector<std::string> header;
  const auto rows = read_csv_numbers(dir / "curves.csv", &header);
  CurvePanel loss{"training loss (total and weighted terms' raw values)", {}}, lr{"learning rate", {}};
  for (size_t c = 1; c < header.size(); ++c) {
    const std::string& h = header[c];
    const bool is_loss = h == "loss" || h.rfind("loss.", 0) == 0;
    if (!is_loss && h != "lr") continue;
    CurveSeries s{h, {}, {}};
    for (const auto& r : rows)
      if (c < r.size()) s.x.push_back(r[0]), s.y.push_back(r[c]);
    (h == "lr" ? lr : loss).series.push_back(std::move(s));
  }
  std::vector<CurvePanel> panels = {loss, lr};
  if (fs::exists(dir / "val.csv")) {
    const auto val = read_csv_numbers(dir / "val.csv", &header);
    CurvePanel v{"validation (%)", {}};
    for (size_t c = 1; c < header.size(); ++c) {
      CurveSeries s{header[c], {}, {}};
      for (const auto& r : val)
        if (c < r.size()) s.x.push_back(r[0]), s.y.push_back(r[c]);
      if (std::any_of(s.y.begin(), s.y.end(), [](double y) { return std::isfinite(y); })) v.series.push_back(s);
    }
    panels.push_back(v);
  }
  plot_curves((dir / "curves.png").string(), panels);
}

// The classes a zero-shot run trains on: the seen ones are the vocabulary
// and the targets; unseen classes' pixels are ignored (label 255).
struct SeenClasses {
  std::vector<std::string> classes;     // display names of every class
  harness::ClassNames vocabulary;       // seen classes with their synonyms
  std::vector<std::string> seen_names;  // display names of the seen classes
  std::vector<int> label_map;           // data set label -> target (255 = unseen)
};

SeenClasses seen_classes(const harness::Dataset& ds, const harness::ZeroShotSplit& split) {
  SeenClasses out;
  out.classes = ds.display_class_names();
  const std::vector<bool> unseen = harness::unseen_mask(split, out.classes);
  out.label_map.assign(out.classes.size(), 255);
  for (size_t c = 0; c < out.classes.size(); ++c) {
    if (unseen[c]) continue;
    out.label_map[c] = static_cast<int>(out.seen_names.size());
    out.seen_names.push_back(out.classes[c]);
    out.vocabulary.push_back(ds.class_names()[c]);
  }
  return out;
}

// Everything the weights depend on besides the trainer's own options (which
// the trainer adds): recipe, graph, data, split, device, ranks.
std::string run_fingerprint(const TrainRecipe& recipe, const Graph& graph, const harness::Dataset& ds,
                            const PipelineTrainOptions& o, const harness::ZeroShotSplit& split, int ranks) {
  std::string unseen;
  for (const auto& c : split.unseen) unseen += c + ";";
  std::string fingerprint = recipe.fingerprint() + graph_fingerprint(graph) + "\ndataset=" + ds.name() +
                            "\ndata_root=" + fs::absolute(o.data_root).lexically_normal().string() +
                            "\ntrain_images=" + std::to_string(ds.size()) + "\nunseen=" + unseen +
                            "\ndevice=" + o.device;
  if (ranks > 1) fingerprint += "\nranks=" + std::to_string(ranks);
  return fingerprint;
}

// Rank 0's check of the output folder: a finished run of this fingerprint is
// returned as is (unless --force); another run's folder is refused, naming
// what differs; --force clears it. Returns true when the run is done.
bool claim_run_folder(const fs::path& dir, const std::string& fingerprint, bool force, PipelineTrainOutcome& out) {
  const fs::path run_path = dir / "run.json";
  bool done = false;
  if (auto stored = read_json_file(run_path.string())) {
    const auto it = stored->is_object() ? stored->find("fingerprint") : stored->end();
    const std::string stored_fp = it != stored->end() && it->is_string() ? it->get<std::string>() : "";
    const bool same = stored_fp == fingerprint;
    if (!same && !force)
      throw std::runtime_error(
          run_path.string() + " records another run (" +
          (stored_fp.empty() ? std::string("it has no fingerprint") : fingerprint_differences(stored_fp, fingerprint)) +
          "); use another --out folder, or --force to replace it");
    if (same && !force && fs::exists(out.weights_path)) {
      out.run = std::move(*stored);
      out.already_done = true;
      done = true;
    }
  }
  if (force) {
    std::error_code ec;
    for (const char* f : {"run.json", "weights.safetensors", "curves.csv", "val.csv", "curves.png"})
      fs::remove(dir / f, ec);
    fs::remove_all(dir / "checkpoint", ec);
  }
  fs::create_directories(dir);
  return done;
}

// The trainer's options from the recipe.
TrainOptions trainer_options(const TrainRecipe& recipe, const std::string& fingerprint, const fs::path& dir,
                             const PipelineTrainOptions& o, int rank) {
  TrainOptions topt;
  topt.steps = recipe.steps;
  topt.lr = recipe.lr;
  topt.weight_decay = recipe.weight_decay;
  topt.beta1 = recipe.beta1;
  topt.beta2 = recipe.beta2;
  topt.eps = recipe.eps;
  topt.schedule = recipe.schedule;
  topt.warmup_steps = recipe.warmup_steps;
  topt.final_lr_fraction = recipe.final_lr_fraction;
  topt.poly_power = recipe.poly_power;
  topt.grad_clip_norm = recipe.grad_clip;
  topt.accumulate = recipe.accumulate;
  topt.seed = recipe.seed;
  topt.groups = recipe.groups;
  topt.fingerprint = fingerprint;
  topt.checkpoint_dir = (dir / "checkpoint").string();
  topt.restart_hint = "Use another --out folder, or --force to start over";
  topt.checkpoint_every = recipe.checkpoint_every;
  topt.progress = o.progress && rank == 0 ? &std::cerr : nullptr;
  topt.kill_after = o.kill_after;
  return topt;
}

// curves.csv (one row per step) and val.csv (one row per evaluation); a
// resumed run first drops the rows that followed its checkpoint.
class CurveWriter {
 public:
  CurveWriter(const fs::path& dir, std::vector<std::string> term_names, bool with_val)
      : curves_(dir / "curves.csv"), val_csv_(dir / "val.csv"), terms_(std::move(term_names)), with_val_(with_val) {}

  void step(const StepReport& r) {
    if (first_step_) start(r.step);
    std::ofstream row(curves_, std::ios::app);
    row << r.step << "," << csv_number(r.loss) << "," << csv_number(r.lr) << "," << csv_number(r.grad_norm) << ","
        << csv_number(r.peak_memory_mb) << "," << csv_number(r.seconds);
    for (const auto& t : terms_) {
      auto it = r.terms.find(t);
      row << "," << (it == r.terms.end() ? "" : csv_number(it->second));
    }
    row << "\n";
  }

  void validation(const json& row) const { std::ofstream(val_csv_, std::ios::app) << val_csv_row(row); }

 private:
  void start(int64_t step) {
    truncate_csv(curves_, step);
    truncate_csv(val_csv_, step + 1);
    if (!fs::exists(curves_) || fs::file_size(curves_) == 0) {
      std::ofstream h(curves_);
      h << "step,loss,lr,grad_norm,peak_memory_mb,seconds";
      for (const auto& t : terms_) h << ",loss." << t;
      h << "\n";
    }
    if (with_val_ && (!fs::exists(val_csv_) || fs::file_size(val_csv_) == 0))
      std::ofstream(val_csv_) << "step,mIoU,mIoU_seen,mIoU_unseen,hIoU\n";
    first_step_ = false;
  }

  fs::path curves_, val_csv_;
  std::vector<std::string> terms_;
  bool with_val_;
  bool first_step_ = true;
};

// Totals over every step of the run, resumed parts included (curves.csv),
// and the validation rows (val.csv), into run.json's fields.
void add_curve_totals(const fs::path& dir, json& run) {
  std::vector<std::string> header;
  const auto rows = read_csv_numbers(dir / "curves.csv", &header);
  double seconds = 0, peak = 0, recent = 0;
  const size_t tail = std::min<size_t>(20, rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    seconds += rows[i][5];
    peak = std::max(peak, rows[i][4]);
    if (i + tail >= rows.size()) recent += rows[i][1] / static_cast<double>(tail);
  }
  json val = json::array();
  if (fs::exists(dir / "val.csv")) {
    const auto vrows = read_csv_numbers(dir / "val.csv", &header);
    for (const auto& r : vrows) {
      json e = {{"step", static_cast<int64_t>(r[0])}};
      for (size_t c = 1; c < header.size() && c < r.size(); ++c)
        e[header[c]] = std::isnan(r[c]) ? json(nullptr) : json(r[c]);
      val.push_back(e);
    }
  }
  run["train_seconds"] = seconds;
  run["seconds_per_step"] = rows.empty() ? 0.0 : seconds / static_cast<double>(rows.size());
  run["peak_memory_mb"] = peak;
  run["first_loss"] = rows.empty() ? 0.0 : rows.front()[1];
  run["final_loss"] = recent;
  run["val"] = val;
}

}  // namespace

PipelineTrainOutcome train_pipeline(const Graph& graph, const PipelineTrainOptions& o) {
  TrainRecipe recipe = parse_train_recipe(graph.spec);
  const Protocol protocol = parse_protocol(graph.spec);
  if (recipe.augment.short_side == 0) recipe.augment.short_side = protocol.short_side;
  check_loss_names(graph, recipe);
  auto ds = harness::make_dataset(o.dataset, o.data_root, recipe.split);
  if (!ds->has_images() || ds->size() == 0)
    throw std::runtime_error("data set '" + ds->name() + "' (" + recipe.split + ") at " + o.data_root +
                             " has no images to train on");

  // The zero-shot split: seen classes are the vocabulary and the targets.
  const harness::ZeroShotSplit split = recipe.unseen_classes
                                           ? harness::ZeroShotSplit{*recipe.unseen_classes, "[train] unseen_classes"}
                                           : harness::declared_zero_shot_split(*ds);
  const SeenClasses seen = seen_classes(*ds, split);
  // Mirroring a crop turns a left arm into a right one: unless the recipe
  // says otherwise, swap the classes named "left X" / "right X".
  if (!recipe.augment.flip_swap) recipe.augment.flip_swap = left_right_pairs(seen.classes);

  const fs::path dir(o.out_dir);
  const int ranks = o.distributed.world_size, rank = o.distributed.rank;
  if (recipe.batch % (static_cast<int64_t>(ranks) * recipe.accumulate) != 0)
    throw std::invalid_argument("train.batch (" + std::to_string(recipe.batch) +
                                ") is not a multiple of ranks x accumulate (" + std::to_string(ranks) + " x " +
                                std::to_string(recipe.accumulate) + ")");
  const std::string fingerprint = run_fingerprint(recipe, graph, *ds, o, split, ranks);

  PipelineTrainOutcome out;
  out.weights_path = (dir / "weights.safetensors").string();
  const fs::path run_path = dir / "run.json";
  // Rank 0 owns the run folder: it alone checks, cleans and writes it.
  bool done = rank == 0 && claim_run_folder(dir, fingerprint, o.force, out);
  std::unique_ptr<ProcessGroup> group;
  if (ranks > 1) {
    group = std::make_unique<ProcessGroup>(o.distributed);  // every rank meets here
    at::Tensor flag = at::full({1}, done ? 1.0f : 0.0f);
    group->broadcast_from_rank0({flag});
    done = flag.item<float>() > 0;
  }
  if (done) return out;

  auto executor = std::make_shared<Executor>(graph, o.device, seen.vocabulary, split.unseen);
  executor->set_training(true);
  int64_t trainable = 0, frozen = 0;
  json trained = json::array();
  for (const auto& t : executor->learnable_tensors()) {
    if (t.buffer) continue;
    (t.trainable ? trainable : frozen) += t.tensor.numel();
    if (t.trainable)
      trained.push_back({{"key", t.key()}, {"shape", t.tensor.sizes().vec()}, {"numel", t.tensor.numel()}});
  }
  if (trainable == 0)
    throw Error({graph.spec.file, 0, 0}, "", "nothing to train: no node has trainable parameters",
                "mark some with a node's trainable = [\"pattern\", ...]; `ovseg params PIPELINE.toml` lists them");

  const std::string frozen_before = frozen_digest(executor->learnable_tensors());
  PipelineTrainTask task(executor, window_phase_nodes(graph), *ds, recipe, seen.label_map, seen.seen_names, rank,
                         ranks);
  std::unique_ptr<Validator> validator;
  std::string val_skipped;
  if (recipe.val_images > 0 && rank == 0) {
    validator = std::make_unique<Validator>(graph, o, recipe, split);
    val_skipped = validator->incompatibility(*executor);
    if (!val_skipped.empty()) {
      validator.reset();
      if (o.progress) std::cerr << "[train] no periodic evaluation: " << val_skipped << "\n";
    }
  }

  TrainOptions topt = trainer_options(recipe, fingerprint, dir, o, rank);
  if (group) {
    topt.sync_gradients = [&](const std::vector<at::Tensor>& grads) { group->average(grads); };
    topt.average_scalar = [&](double v) { return group->average(v); };
    topt.write_checkpoints = rank == 0;
    // Identical start on every rank, whatever each loaded.
    std::vector<at::Tensor> start;
    for (const auto& t : executor->learnable_tensors())
      if (t.trainable || t.buffer) start.push_back(t.tensor.detach());
    group->broadcast_from_rank0(start);
  }

  std::vector<std::string> term_names;
  for (const auto& [name, w] : recipe.losses) term_names.push_back(name);
  CurveWriter curves(dir, term_names, validator != nullptr);
  auto evaluate = [&](int64_t steps_done) {
    executor->set_training(false);
    json row = validator->evaluate(*executor, steps_done);
    executor->set_training(true);
    curves.validation(row);
    if (o.progress) std::cerr << "[train] val after " << steps_done << " steps: " << row.dump() << "\n";
  };
  topt.on_step = [&](const StepReport& r) {
    if (rank != 0) return;  // rank 0 writes the curves
    curves.step(r);
    const int64_t done = r.step + 1;
    if (validator && recipe.eval_every > 0 && done % recipe.eval_every == 0 && done < recipe.steps) evaluate(done);
  };

  const TrainResult result = train(task, topt);
  if (rank != 0) return out;  // rank 0 writes the results
  if (validator) evaluate(recipe.steps);

  executor->set_training(false);
  const bool frozen_unchanged = frozen_digest(executor->learnable_tensors()) == frozen_before;
  if (!frozen_unchanged)
    std::cerr << "warning: a frozen parameter changed during training (a stage writes into its weights)\n";
  save_stage_weights(out.weights_path, executor->learnable_tensors(),
                     {{"ovseg.pipeline", graph.spec.name},
                      {"ovseg.dataset", ds->name()},
                      {"ovseg.steps", std::to_string(recipe.steps)},
                      {"ovseg.seed", std::to_string(recipe.seed)}});
  plot_run(dir, term_names);

  json run;
  run["kind"] = kRunKind;
  run["format_version"] = 1;
  run["status"] = "complete";
  run["date"] = utc_now_iso8601();
  run["command"] = o.command;
  run["pipeline"] = {{"name", graph.spec.name},
                     {"file", fs::absolute(graph.spec.file).string()},
                     {"sha256", models::sha256_hex(graph.spec.resolved_toml)},
                     {"resolved_toml", graph.spec.resolved_toml}};
  run["dataset"] = {{"name", ds->name()},
                    {"data_root", fs::absolute(o.data_root).string()},
                    {"split", recipe.split},
                    {"images", ds->size()},
                    {"classes", seen.classes},
                    {"seen_classes", seen.seen_names},
                    {"unseen_classes", split.unseen},
                    {"zero_shot_source", split.source}};
  run["fingerprint"] = fingerprint;
  run["trainable"] = trained;
  run["trainable_parameters"] = trainable;
  run["frozen_parameters"] = frozen;
  run["frozen_parameters_unchanged"] = frozen_unchanged;
  run["steps"] = recipe.steps;
  run["ranks"] = ranks;
  add_curve_totals(dir, run);
  run["resumed_at_step"] = result.start_step;
  if (!val_skipped.empty()) run["val_skipped"] = val_skipped;
  run["device"] = device_record(o.device);  // device.cpp: name, kind, GPU, driver, CUDA/cuDNN versions
  run["versions"] = {{"ovseg", ovseg_version()}, {"libtorch", TORCH_VERSION}, {"git_commit", ovseg_git_commit()}};
  run["weights"] = {{"file", "weights.safetensors"}, {"sha256", models::sha256_file(out.weights_path)}};
  write_json_atomic(run_path.string(), run);
  out.run = std::move(run);
  return out;
}

}  // namespace ovseg::train
