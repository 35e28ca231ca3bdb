// `ovseg train-sam --data ROOT --out FILE`: SAM trained on an instance-mask
// folder (`ovseg world`'s) with SAM's simulated interactive clicks and losses,
// through the same SamModel the plugins run, saved as fp16 safetensors in the
// official key layout. `ovseg eval-sam --model M --data ROOT`: single-click
// mask IoU against a colour flood fill from the same click.
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <ATen/Parallel.h>

#include "commands.hpp"
#include "ovseg/models/model_zoo.hpp"
#include "ovseg/models/random_sam.hpp"
#include "ovseg/models/sha256.hpp"
#include "ovseg/train/sam_click_eval.hpp"
#include "ovseg/train/sam_training.hpp"
#include "ovseg/world/world.hpp"

namespace ovseg::cli {

namespace {

// World v1 folders have class labels only: their thing classes' connected
// components stand in for instances (see load_instance_folder).
train::InstanceSet load_instances(const std::string& root, const std::string& split, int64_t limit) {
  const auto& classes = world::world_classes();
  train::InstanceSet set = train::load_instance_folder(root, split, limit, [&](int c) {
    return c >= 0 && c < static_cast<int>(classes.size()) && classes[static_cast<size_t>(c)].thing;
  });
  if (set.derived_from_labels)
    std::cerr << "note: " << root << "/" << split << " has no instances/ folder; instances are the connected "
              << "components of the world's thing classes in labels/\n";
  return set;
}

void print_click_table(const train::ClickEvalResult& r, const std::string& what) {
  auto pct = [](double v) {
    std::ostringstream os;
    os << std::fixed << std::setprecision(1) << 100.0 * v;
    return os.str();
  };
  std::cout << "single-click mask IoU on " << what << " (" << r.instances
            << " objects, one click at each object's most interior pixel):\n"
            << "| method | mean IoU (%) |\n| :--- | ---: |\n"
            << "| SAM, single-mask output | " << pct(r.single_iou) << " |\n"
            << "| SAM, multimask: highest predicted IoU | " << pct(r.chosen_of_3_iou) << " |\n"
            << "| SAM, multimask: best of 3 (oracle) | " << pct(r.best_of_3_iou) << " |\n"
            << "| colour flood fill (" << (r.flood_fixed_range ? "fixed" : "floating") << " range, tolerance "
            << r.flood_tolerance << ", best on this set) | " << pct(r.flood_fill_iou) << " |\n";
}

// The pixels and instance maps: a regenerated folder of the same size is
// another run.
std::string instances_digest(const train::InstanceSet& data) {
  const at::Tensor images = data.images.contiguous(), instances = data.instances.contiguous();
  return models::sha256_hex(models::sha256_hex(images.data_ptr(), static_cast<size_t>(images.nbytes())) +
                            models::sha256_hex(instances.data_ptr(), static_cast<size_t>(instances.nbytes())));
}

int run_train_sam(const ParsedArgs& args) {
  for (const char* required : {"--data", "--out"})
    if (!args.has(required)) throw UsageError(std::string("ovseg train-sam: ") + required + " is required");
  const std::string cmd = "train-sam";
  const std::filesystem::path out_dir = std::filesystem::absolute(args.get("--out")).parent_path();
  if (!std::filesystem::is_directory(out_dir))
    throw UsageError("ovseg train-sam: the folder of --out does not exist: " + out_dir.string());
  const uint64_t seed = static_cast<uint64_t>(parse_count(cmd, "--seed", args.get("--seed", "0")));

  train::TrainOptions topt;
  topt.seed = seed;
  topt.steps = parse_count(cmd, "--steps", args.get("--steps", "2000"));
  topt.lr = parse_real(cmd, "--lr", args.get("--lr", "1e-3"));
  topt.weight_decay = parse_real(cmd, "--weight-decay", args.get("--weight-decay", "0.1"));
  topt.beta2 = 0.999;  // SAM's AdamW betas (0.9, 0.999)
  topt.eps = 1e-8;
  topt.warmup_fraction = parse_real(cmd, "--warmup", args.get("--warmup", "0.05"));
  topt.grad_clip_norm = parse_real(cmd, "--grad-clip", args.get("--grad-clip", "1.0"));
  topt.checkpoint_dir = args.get("--checkpoint-dir");
  topt.checkpoint_every = parse_count(cmd, "--checkpoint-every", args.get("--checkpoint-every", "200"));
  topt.resume = !args.has("--no-resume") && !args.has("--force");
  topt.restart_hint = "Train from scratch with --force (the checkpoint is replaced), or use another --checkpoint-dir";
  topt.progress = args.has("--quiet") ? nullptr : &std::cerr;
  if (topt.steps == 0 || topt.checkpoint_every == 0)
    throw UsageError("ovseg train-sam: --steps and --checkpoint-every must be positive");

  train::SamTrainOptions sopt;
  sopt.batch = parse_count(cmd, "--batch", args.get("--batch", "16"));
  sopt.seed = seed;
  sopt.points = parse_count(cmd, "--points", args.get("--points", "3"));
  sopt.refinements = parse_count(cmd, "--refinements", args.get("--refinements", "1"));
  sopt.min_area = parse_count(cmd, "--min-area", args.get("--min-area", "16"));
  if (sopt.batch == 0) throw UsageError("ovseg train-sam: --batch must be positive");
  const long threads = parse_count(cmd, "--threads", args.get("--threads", "0"));
  if (threads > 0) at::set_num_threads(static_cast<int>(threads));

  std::shared_ptr<models::SamModel> model;
  if (args.has("--init")) {
    model = models::SamModel::load(models::resolve_model_file(args.get("--init")));
  } else {
    const std::string preset = args.get("--geometry", "world");
    model = models::SamModel::from_state_dict(models::make_random_sam_state_dict(models::sam_geometry_preset(preset),
                                                                                 seed),
                                              "random " + preset);
  }
  const train::InstanceSet data = load_instances(args.get("--data"), args.get("--split", "train"),
                                                 parse_count(cmd, "--limit", args.get("--limit", "0")));
  // Every setting that changes the weights besides the trainer's own
  // options: a checkpoint of other settings is refused, not resumed.
  std::ostringstream fp;
  fp << "batch=" << sopt.batch << "\npoints=" << sopt.points << "\nrefinements=" << sopt.refinements
     << "\nmin_area=" << sopt.min_area << "\nloss_weights=" << sopt.focal_weight << "," << sopt.dice_weight << ","
     << sopt.iou_weight << "\nflip=" << sopt.horizontal_flip << "\ninit="
     << (args.has("--init") ? args.get("--init") + " sha256 " +
                                  models::cached_file_sha256(models::resolve_model_file(args.get("--init")))
                            : "random " + args.get("--geometry", "world"))
     << "\ndata=" << std::filesystem::absolute(args.get("--data")).string() << " " << args.get("--split", "train")
     << " " << data.ids.size() << " images\ndata_sha256=" << instances_digest(data);
  topt.fingerprint = fp.str();
  train::SamInteractiveTask task(model, data, sopt);
  std::cerr << "training " << model->geometry().describe() << "\n  on " << task.num_instances() << " instances in "
            << data.ids.size() << " images from " << args.get("--data") << ", " << topt.steps << " steps of "
            << sopt.batch << ", 1 + " << sopt.points << " clicks + " << sopt.refinements << " refinement(s), lr "
            << topt.lr << ", seed " << seed << "\n";
  const train::TrainResult r = train::train(task, topt);

  std::ostringstream command;
  command << "ovseg train-sam";
  for (const auto& [opt, values] : args.values)
    for (const auto& v : values) command << " " << opt << (v.empty() ? "" : " " + v);
  const auto& g = model->geometry();
  const std::map<std::string, std::string> meta = {{"format", "pt"},
                                                   {"ovseg.command", command.str()},
                                                   {"ovseg.seed", std::to_string(seed)},
                                                   {"ovseg.steps", std::to_string(topt.steps)},
                                                   {"ovseg.final_loss", std::to_string(r.recent_loss())},
                                                   {"ovseg.geometry", g.describe()},
                                                   {"ovseg.sam.decoder_heads", std::to_string(g.decoder_heads)}};
  train::save_sam_fp16_safetensors(args.get("--out"), *model, meta);
  auto t = task.last_terms();
  std::cout << "wrote " << args.get("--out") << ": loss " << r.first_loss() << " -> " << r.recent_loss()
            << " (mean of the last 20 steps; last step: focal " << t["focal"] << ", dice " << t["dice"] << ", IoU MSE "
            << t["iou_mse"] << ", mask IoU " << t["mask_iou"] << "), " << std::lround(r.seconds) << " s\n";
  const std::string eval_split = args.get("--eval-split", "val");
  if (eval_split != "none" && std::filesystem::is_directory(std::filesystem::path(args.get("--data")) / eval_split)) {
    const auto loaded = models::SamModel::load(args.get("--out"));  // the fp16 file as shipped
    print_click_table(train::evaluate_single_clicks(loaded, load_instances(args.get("--data"), eval_split, 0)),
                      args.get("--data") + "/" + eval_split);
  }
  return 0;
}

int run_eval_sam(const ParsedArgs& args) {
  for (const char* required : {"--model", "--data"})
    if (!args.has(required)) throw UsageError(std::string("ovseg eval-sam: ") + required + " is required");
  const std::string split = args.get("--split", "val");
  const auto model = models::SamModel::load(models::resolve_model_file(args.get("--model")));
  const train::InstanceSet data = load_instances(args.get("--data"), split,
                                                 parse_count("eval-sam", "--limit", args.get("--limit", "0")));
  print_click_table(train::evaluate_single_clicks(model, data,
                                                  parse_count("eval-sam", "--min-area", args.get("--min-area", "16"))),
                    args.get("--data") + "/" + split);
  return 0;
}

}  // namespace

Command train_sam_command() {
  CommandSpec spec;
  spec.name = "train-sam";
  spec.summary = "train a small SAM on instance masks with SAM's simulated clicks and losses";
  spec.usage = "--data ROOT --out FILE.safetensors [--steps N] [--batch N] [--lr X] [--seed N] [--checkpoint-dir DIR]";
  spec.options = {{"--data", "ROOT", "instance folder: ROOT/SPLIT/images + instances (`ovseg world` writes one)",
                   false},
                  {"--split", "NAME", "split to train on (default train)", false},
                  {"--limit", "N", "use the first N images only (default all)", false},
                  {"--out", "FILE", "output .safetensors (fp16, official SAM key layout)", false},
                  {"--geometry", "NAME", "shape of a fresh model (default world; see make-random-sam)", false},
                  {"--init", "M", "start from this SAM checkpoint instead of random weights", false},
                  {"--steps", "N", "optimisation steps (default 2000)", false},
                  {"--batch", "N", "(image, object) pairs per step (default 16)", false},
                  {"--lr", "X", "peak learning rate (default 1e-3; warm-up then cosine to 0)", false},
                  {"--weight-decay", "X", "AdamW weight decay on matrices (default 0.1, as SAM)", false},
                  {"--warmup", "F", "warm-up fraction of the steps (default 0.05)", false},
                  {"--grad-clip", "X", "gradient norm clip (default 1.0; 0 = off)", false},
                  {"--points", "N", "error-region clicks after the first prompt (default 3; SAM: 8)", false},
                  {"--refinements", "N", "iterations with only the previous mask (default 1; SAM: 2)", false},
                  {"--min-area", "N", "objects under N pixels are not trained on (default 16)", false},
                  {"--seed", "N", "seed of the initial weights, sample order, clicks and flips (default 0)", false},
                  {"--eval-split", "NAME", "after training, single-click IoU on this split (default val; none = skip)",
                   false},
                  {"--quiet", "", "no progress line", false}};
  const auto resumable = resumable_training_options();
  spec.options.insert(spec.options.end() - 1, resumable.begin(), resumable.end());
  spec.details =
      "The same seed, data and options give the same model on the same build.\n"
      "Images must have the model's input size (world geometry: ovseg world --size 128).";
  return {spec, run_train_sam};
}

Command eval_sam_command() {
  CommandSpec spec;
  spec.name = "eval-sam";
  spec.summary = "single-click mask IoU of a SAM on instance masks, against a colour flood fill";
  spec.usage = "--model M --data ROOT [--split val]";
  spec.options = {{"--model", "M", "SAM checkpoint or zoo name (e.g. ovseg:world-sam)", false},
                  {"--data", "ROOT", "instance folder: ROOT/SPLIT/images + instances", false},
                  {"--split", "NAME", "split (default val)", false},
                  {"--limit", "N", "the first N images only (default all)", false},
                  {"--min-area", "N", "objects of at least N pixels (default 16)", false}};
  return {spec, run_eval_sam};
}

}  // namespace ovseg::cli
