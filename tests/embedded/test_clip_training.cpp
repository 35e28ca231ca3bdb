// Contrastive CLIP training on a small world: the loss falls, batches are a
// function of (seed, step), the saved fp16 file loads back as the same model.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <c10/core/InferenceMode.h>

#include "../eval/eval_test_util.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/models/model_zoo.hpp"
#include "ovseg/models/random_clip.hpp"
#include "ovseg/train/clip_contrastive.hpp"
#include "ovseg/world/world.hpp"

using namespace ovseg;
using eval_test::TempDir;

namespace {

std::shared_ptr<models::ClipModel> fresh_world_clip(uint64_t seed) {
  return models::ClipModel::from_state_dict(models::make_random_clip_state_dict(models::clip_geometry_preset("world"),
                                                                                seed),
                                            "random");
}

const models::ClipTokenizer& tokenizer() {
  static const models::ClipTokenizer t(models::resolve_bpe_vocab());
  return t;
}

}  // namespace

TEST_CASE("image-caption folder: loads the world's train split, errors name the file and line") {
  TempDir tmp;
  world::write_world_split(tmp.file("w"), "train", 6, 4, {});
  const train::ImageCaptionSet set = train::load_image_caption_folder(tmp.file("w"), "train");
  CHECK(set.ids.size() == 6);
  CHECK(set.images.sizes() == at::IntArrayRef({6, 3, 64, 64}));
  CHECK(set.captions[2] == world::render_scene(world::scene_seed(4, "train", 2)).caption);
  eval_test::write_file(tmp.file("w/train/captions.tsv"), "00000\tfine\nbroken line\n");
  CHECK_THROWS_WITH_AS(train::load_image_caption_folder(tmp.file("w"), "train"), doctest::Contains("captions.tsv:2"),
                       std::runtime_error);
}

TEST_CASE("a short contrastive run on the world: the loss falls; batches are reproducible") {
  TempDir tmp;
  world::write_world_split(tmp.file("w"), "train", 384, 5, {});
  const train::ImageCaptionSet data = train::load_image_caption_folder(tmp.file("w"), "train");
  auto model = fresh_world_clip(1);
  train::ClipContrastiveOptions co;
  co.batch = 64;
  co.seed = 9;
  train::ClipContrastiveTask task(model, data, tokenizer(), co);

  // Step 7's batch: a slice of epoch 1's shuffle, the same from a fresh task.
  train::ClipContrastiveTask other(fresh_world_clip(1), data, tokenizer(), co);
  CHECK(task.batch_indices(7) == other.batch_indices(7));
  CHECK(task.batch_indices(7) != task.batch_indices(6));
  auto epoch0 = task.batch_indices(0);
  for (int s = 1; s < 6; ++s) {
    const auto b = task.batch_indices(s);
    epoch0.insert(epoch0.end(), b.begin(), b.end());
  }
  std::sort(epoch0.begin(), epoch0.end());
  CHECK(std::adjacent_find(epoch0.begin(), epoch0.end()) == epoch0.end());  // each pair once per epoch

  train::TrainOptions o;
  o.steps = 150;
  o.lr = 3e-3;
  const train::TrainResult r = train::train(task, o);
  MESSAGE("contrastive loss " << r.first_loss() << " -> " << r.recent_loss(10) << " in " << r.seconds << " s");
  // Starts near chance, log(batch), and falls clearly below it.
  CHECK(r.first_loss() > 0.8 * std::log(64.0));
  CHECK(r.first_loss() < 1.3 * std::log(64.0));
  CHECK(r.recent_loss(10) < 0.8 * std::log(64.0));

  // Saved as fp16 safetensors in OpenAI's layout, it loads back as the model.
  const std::string file = tmp.file("m.safetensors");
  train::save_clip_fp16_safetensors(file, task.state_dict(), {{"ovseg.seed", "9"}});
  std::map<std::string, std::string> meta;
  models::load_safetensors(file, &meta);
  CHECK(meta.at("ovseg.seed") == "9");
  auto loaded = models::ClipModel::load(file);
  CHECK(loaded->geometry() == model->geometry());
  CHECK(loaded->logit_scale == doctest::Approx(task.logit_scale()).epsilon(1e-3));
  c10::InferenceMode guard;
  const at::Tensor px = models::normalize_clip_pixels(data.images.slice(0, 0, 4).to(at::kFloat) / 255.0);
  const at::Tensor a = model->encode_image(px), b = loaded->encode_image(px);
  CHECK(((a - b).abs().max() / a.abs().max()).item<float>() < 2e-2);  // fp16 rounding only
}

TEST_CASE("train-clip: a checkpoint of other settings is refused, a corrupt one named in one line") {
  TempDir tmp;
  ovseg::world::SceneOptions so;
  so.width = so.height = 32;
  ovseg::world::write_world_split(tmp.file("w"), "train", 16, 3, so);
  const std::string base = "train-clip --data '" + tmp.file("w") + "' --out '" + tmp.file("m.safetensors") +
                           "' --steps 2 --batch 4 --geometry tiny --checkpoint-dir '" + tmp.file("ck") +
                           "' --checkpoint-every 1 --quiet --bpe '" + std::string(OVSEG_SOURCE_DIR) +
                           "/host/models/embedded/bpe_simple_vocab_16e6.txt.gz'";
  auto r = eval_test::run_cli(base + " --lr 1e-3");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // Another --lr or --seed: refused, listing each differing value and the fix.
  r = eval_test::run_cli(base + " --lr 2e-3");
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("lr: checkpoint has 0.001") != std::string::npos);
  CHECK(r.output.find("this run has 0.002") != std::string::npos);
  CHECK(r.output.find("--force") != std::string::npos);
  r = eval_test::run_cli(base + " --lr 1e-3 --seed 5");
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("seed: checkpoint has 0, this run has 5") != std::string::npos);
  // --force trains from scratch: the same weights as a run in a fresh folder.
  r = eval_test::run_cli(base + " --lr 2e-3 --force");
  REQUIRE(r.exit_code == 0);
  const std::string forced = eval_test::read_file(tmp.file("m.safetensors"));
  r = eval_test::run_cli("train-clip --data '" + tmp.file("w") + "' --out '" + tmp.file("fresh.safetensors") +
                         "' --steps 2 --batch 4 --geometry tiny --quiet --lr 2e-3 --bpe '" +
                         std::string(OVSEG_SOURCE_DIR) + "/host/models/embedded/bpe_simple_vocab_16e6.txt.gz'");
  REQUIRE(r.exit_code == 0);
  auto tensors = [](const std::string& file) { return models::load_safetensors(file); };
  const auto a = tensors(tmp.file("m.safetensors")), b = tensors(tmp.file("fresh.safetensors"));
  REQUIRE(a.size() == b.size());
  for (const auto& [k, v] : a) CHECK_MESSAGE(at::equal(v, b.at(k)), k);
  // A truncated checkpoint: one line naming the file, no stack trace.
  const std::string ck = tmp.file("ck") + "/trainer_state.pt";
  const std::string bytes = eval_test::read_file(ck);
  std::ofstream(ck, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 3);
  r = eval_test::run_cli(base + " --lr 1e-3");
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("trainer_state.pt: unreadable training checkpoint") != std::string::npos);
  CHECK(r.output.find("frame #") == std::string::npos);
}
