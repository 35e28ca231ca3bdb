// `ovseg train-clip --data ROOT --out FILE`: contrastive training of a small
// CLIP on an image-caption folder (e.g. `ovseg world`'s), through the same
// ClipModel the pipelines run, saved as fp16 safetensors in OpenAI's layout.
#include <cmath>
#include <filesystem>
#include <iostream>
#include <sstream>

#include <ATen/Parallel.h>

#include "commands.hpp"
#include "ovseg/models/clip_checkpoint.hpp"
#include "ovseg/models/model_zoo.hpp"
#include "ovseg/models/random_clip.hpp"
#include "ovseg/models/sha256.hpp"
#include "ovseg/train/clip_contrastive.hpp"

namespace ovseg::cli {

namespace {

// The data's content (pixels and captions): a regenerated folder of the
// same size is another run.
std::string data_digest(const train::ImageCaptionSet& data) {
  const at::Tensor pixels = data.images.contiguous();
  std::string all = models::sha256_hex(pixels.data_ptr(), static_cast<size_t>(pixels.nbytes()));
  for (const auto& c : data.captions) all += "\n" + c;
  return models::sha256_hex(all);
}

int run_train_clip(const ParsedArgs& args) {
  for (const char* required : {"--data", "--out"})
    if (!args.has(required)) throw UsageError(std::string("ovseg train-clip: ") + required + " is required");
  const std::string cmd = "train-clip";
  // Checked before training, not after it: a typo here must not cost the run.
  const std::filesystem::path out_dir = std::filesystem::absolute(args.get("--out")).parent_path();
  if (!std::filesystem::is_directory(out_dir))
    throw UsageError("ovseg train-clip: the folder of --out does not exist: " + out_dir.string());
  const uint64_t seed = static_cast<uint64_t>(parse_count(cmd, "--seed", args.get("--seed", "0")));

  train::TrainOptions topt;
  topt.steps = parse_count(cmd, "--steps", args.get("--steps", "3000"));
  topt.lr = parse_real(cmd, "--lr", args.get("--lr", "1e-3"));
  topt.weight_decay = parse_real(cmd, "--weight-decay", args.get("--weight-decay", "0.1"));
  topt.warmup_fraction = parse_real(cmd, "--warmup", args.get("--warmup", "0.05"));
  topt.checkpoint_dir = args.get("--checkpoint-dir");
  topt.checkpoint_every = parse_count(cmd, "--checkpoint-every", args.get("--checkpoint-every", "200"));
  topt.resume = !args.has("--no-resume") && !args.has("--force");
  topt.restart_hint = "Train from scratch with --force (the checkpoint is replaced), or use another --checkpoint-dir";
  topt.progress = args.has("--quiet") ? nullptr : &std::cerr;
  if (topt.steps == 0 || topt.checkpoint_every == 0)
    throw UsageError("ovseg train-clip: --steps and --checkpoint-every must be positive");

  train::ClipContrastiveOptions copt;
  copt.batch = parse_count(cmd, "--batch", args.get("--batch", "256"));
  copt.seed = seed;
  copt.horizontal_flip = !args.has("--no-flip");

  // Training uses every core for ATen's own loops too (inference keeps one
  // intra-op thread; see sdk/runtime.hpp).
  const long threads = parse_count(cmd, "--threads", args.get("--threads", "0"));
  if (threads > 0) at::set_num_threads(static_cast<int>(threads));

  std::shared_ptr<models::ClipModel> model;
  if (args.has("--init")) {
    model = models::ClipModel::load(args.get("--init"));
  } else {
    const auto g = models::clip_geometry_preset(args.get("--geometry", "world"));
    model = models::ClipModel::from_state_dict(models::make_random_clip_state_dict(g, seed), "random init");
  }
  const std::string bpe_file = models::resolve_bpe_vocab(args.get("--bpe"));
  const models::ClipTokenizer tokenizer(bpe_file);
  const train::ImageCaptionSet data = train::load_image_caption_folder(args.get("--data"),
                                                                       args.get("--split", "train"));
  std::cerr << "training " << model->geometry().describe() << "\n  on " << data.ids.size() << " pairs ("
            << data.images.size(3) << "x" << data.images.size(2) << ") from " << args.get("--data") << ", "
            << topt.steps << " steps of " << copt.batch << ", lr " << topt.lr << ", seed " << seed << "\n";

  // Every setting that changes the weights: a checkpoint of another run is
  // refused, never silently resumed under new metadata. (The trainer adds
  // its own options: steps, lr, schedule, seed, ...)
  std::ostringstream fp;
  fp.precision(17);
  fp << "steps=" << topt.steps << "\nlr=" << topt.lr << "\nweight_decay=" << topt.weight_decay
     << "\nwarmup=" << topt.warmup_fraction << "\nbatch=" << copt.batch << "\nseed=" << seed
     << "\nflip=" << copt.horizontal_flip << "\ninit="
     << (args.has("--init") ? args.get("--init") + " sha256 " + models::cached_file_sha256(args.get("--init"))
                            : "random " + args.get("--geometry", "world"))
     << "\ndata=" << std::filesystem::absolute(args.get("--data")).string() << " " << args.get("--split", "train")
     << " " << data.ids.size() << " pairs"
     << "\ndata_sha256=" << data_digest(data) << "\nbpe=" << models::cached_file_sha256(bpe_file);
  topt.fingerprint = fp.str();

  train::ClipContrastiveTask task(model, data, tokenizer, copt);
  const train::TrainResult r = train::train(task, topt);

  std::ostringstream command;
  command << "ovseg train-clip";
  for (const auto& [opt, values] : args.values)
    for (const auto& v : values) command << " " << opt << (v.empty() ? "" : " " + v);
  const std::map<std::string, std::string> meta = {
      {"format", "pt"},  // open_clip/HF readers expect this key in safetensors metadata
      {"ovseg.command", command.str()},
      {"ovseg.seed", std::to_string(seed)},
      {"ovseg.steps", std::to_string(topt.steps)},
      {"ovseg.final_loss", std::to_string(r.recent_loss())},
      {"ovseg.geometry", model->geometry().describe()}};
  train::save_clip_fp16_safetensors(args.get("--out"), task.state_dict(), meta);
  std::cout << "wrote " << args.get("--out") << ": loss " << r.first_loss() << " -> " << r.recent_loss()
            << " (mean of the last 20 steps), logit scale " << task.logit_scale() << ", " << std::lround(r.seconds)
            << " s\n";
  return 0;
}

}  // namespace

Command train_clip_command() {
  CommandSpec spec;
  spec.name = "train-clip";
  spec.summary = "train a small CLIP contrastively on an image-caption folder";
  spec.usage = "--data ROOT --out FILE.safetensors [--steps N] [--batch N] [--lr X] [--seed N] [--checkpoint-dir DIR]";
  spec.options = {
      {"--data", "ROOT", "image-caption folder: ROOT/SPLIT/captions.tsv + images/ (`ovseg world` writes one)", false},
      {"--split", "NAME", "split to train on (default train)", false},
      {"--out", "FILE", "output .safetensors (fp16, OpenAI key layout)", false},
      {"--geometry", "NAME", "model shape preset for a fresh model (default world; see make-random-clip)", false},
      {"--init", "FILE", "start from this CLIP checkpoint instead of random weights", false},
      {"--steps", "N", "optimisation steps (default 3000)", false},
      {"--batch", "N", "image-caption pairs per step (default 256)", false},
      {"--lr", "X", "peak learning rate (default 1e-3; warm-up then cosine to 0)", false},
      {"--weight-decay", "X", "AdamW decoupled weight decay on matrices (default 0.1)", false},
      {"--warmup", "F", "warm-up fraction of the steps (default 0.05)", false},
      {"--seed", "N", "seed of the initial weights, batch order and flips (default 0)", false},
      {"--no-flip", "", "no random horizontal flips", false},
      {"--bpe", "FILE", "CLIP BPE vocabulary (default: $OVSEG_CLIP_BPE, the cache, the embedded copy)", false},
      {"--quiet", "", "no progress line", false}};
  const auto resumable = resumable_training_options();
  spec.options.insert(spec.options.end() - 2, resumable.begin(), resumable.end());
  spec.details =
      "The same seed, data and options give the same model on the same build.\n"
      "The command line and seed are stored in the file's metadata.";
  return {spec, run_train_clip};
}

}  // namespace ovseg::cli
