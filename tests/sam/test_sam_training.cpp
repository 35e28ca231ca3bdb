// SAM training pieces: the losses against their formulas, instance folders
// (v2 layout and the labels fallback), the single-click evaluation and its
// flood-fill baseline, and the interactive training task on synthetic scenes.
#include <ovseg/models/random_sam.hpp>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "../models/models_test_util.hpp"
#include "ovseg/train/sam_click_eval.hpp"
#include "ovseg/train/sam_training.hpp"

using namespace ovseg;
namespace fs = std::filesystem;

namespace {

// `n` scenes of side `s`: a noisy grey background with two flat-coloured
// rectangles (instances 1 and 2) and, in the labels, their classes (1, 2).
void write_scenes(const fs::path& root, int n, int s, bool with_instances) {
  fs::create_directories(root / "train" / "images");
  fs::create_directories(root / "train" / (with_instances ? "instances" : "labels"));
  cv::RNG rng(5);
  for (int i = 0; i < n; ++i) {
    cv::Mat img(s, s, CV_8UC3), inst = cv::Mat::zeros(s, s, CV_16UC1), lab = cv::Mat::zeros(s, s, CV_8UC1);
    rng.fill(img, cv::RNG::UNIFORM, 90, 130);
    for (int k = 1; k <= 2; ++k) {
      const int w = rng.uniform(s / 6, s / 3), h = rng.uniform(s / 6, s / 3);
      const int x = k == 1 ? rng.uniform(0, s / 2 - w) : rng.uniform(s / 2, s - w), y = rng.uniform(0, s - h);
      const cv::Rect r(x, y, w, h);
      img(r).setTo(k == 1 ? cv::Scalar(20, 40, 220) : cv::Scalar(230, 200, 30));
      inst(r).setTo(k);
      lab(r).setTo(k);
    }
    char id[16];
    std::snprintf(id, sizeof id, "%04d", i);
    cv::imwrite((root / "train" / "images" / (std::string(id) + ".png")).string(), img);
    if (with_instances)
      cv::imwrite((root / "train" / "instances" / (std::string(id) + ".png")).string(), inst);
    else
      cv::imwrite((root / "train" / "labels" / (std::string(id) + ".png")).string(), lab);
  }
}

}  // namespace

TEST_CASE("focal and dice losses follow their formulas") {
  const at::Tensor x = at::tensor({-2.0f, 0.5f, 3.0f, -0.1f}).view({1, 2, 2});
  const at::Tensor t = at::tensor({0.0f, 1.0f, 1.0f, 1.0f}).view({1, 2, 2});
  double focal = 0, inter = 0, ps = 0, ts = 0;
  for (int i = 0; i < 4; ++i) {
    const double xi = x.flatten()[i].item<double>(), ti = t.flatten()[i].item<double>();
    const double p = 1 / (1 + std::exp(-xi));
    const double ce = -(ti * std::log(p) + (1 - ti) * std::log(1 - p));
    const double pt = p * ti + (1 - p) * (1 - ti), at = 0.25 * ti + 0.75 * (1 - ti);
    focal += at * ce * (1 - pt) * (1 - pt) / 4;
    inter += p * ti, ps += p, ts += ti;
  }
  CHECK(train::sam_focal_loss(x, t).item<double>() == doctest::Approx(focal).epsilon(1e-6));
  CHECK(train::sam_dice_loss(x, t).item<double>() ==
        doctest::Approx(1 - (2 * inter + 1) / (ps + ts + 1)).epsilon(1e-6));
}

TEST_CASE("instance folders: 16-bit instance maps, or thing components of label maps") {
  ovseg_test::TempDir dir;
  write_scenes(dir.file("v2"), 3, 64, true);
  const train::InstanceSet v2 = train::load_instance_folder(dir.file("v2"), "train");
  CHECK(v2.ids == std::vector<std::string>{"0000", "0001", "0002"});
  CHECK(v2.images.sizes() == at::IntArrayRef{3, 64, 64, 3});
  CHECK_FALSE(v2.derived_from_labels);
  CHECK(train::instance_ids(v2.instances[0], 1) == std::vector<int64_t>{1, 2});
  // The image is RGB: instance 1 was drawn BGR (20, 40, 220), i.e. red.
  const at::Tensor one = v2.instances[0] == 1;
  CHECK(v2.images[0].index({one}).select(1, 0).to(at::kFloat).mean().item<double>() == doctest::Approx(220));

  write_scenes(dir.file("v1"), 2, 64, false);
  CHECK_THROWS_WITH_AS(train::load_instance_folder(dir.file("v1"), "train"), doctest::Contains("no instance masks"),
                       std::runtime_error);
  const train::InstanceSet v1 = train::load_instance_folder(dir.file("v1"), "train", 1, [](int c) { return c == 2; });
  CHECK(v1.derived_from_labels);
  CHECK(v1.ids.size() == 1);
  CHECK(train::instance_ids(v1.instances[0], 1) == std::vector<int64_t>{1});  // only class 2 is a thing
}

TEST_CASE("the click goes to the most interior pixel; the flood fill follows the colour") {
  at::Tensor mask = at::zeros({20, 30}, at::kBool);
  mask.slice(0, 4, 15).slice(1, 2, 23) = true;  // 11 x 21
  CHECK(train::interior_point(mask) == std::pair<int64_t, int64_t>{12, 9});
  at::Tensor img = at::full({20, 30, 3}, 100, at::kByte);
  img.slice(0, 4, 15).slice(1, 2, 23) = 200;
  CHECK(at::equal(train::colour_flood_fill(img, 12, 9, 8, true), mask));
  CHECK(at::equal(train::colour_flood_fill(img, 0, 0, 8, false), ~mask));
}

TEST_CASE("interactive SAM training: deterministic batches, a falling loss, the evaluation on the fp16 file") {
  ovseg_test::TempDir dir;
  write_scenes(dir.file("w"), 12, 128, true);
  const train::InstanceSet data = train::load_instance_folder(dir.file("w"), "train");
  models::SamGeometry g = models::sam_geometry_preset("world");
  g.vit.depth = 2;
  g.vit.global_blocks = {1};
  auto model = models::SamModel::from_state_dict(models::make_random_sam_state_dict(g, 1), "tiny world");
  train::SamTrainOptions o;
  o.batch = 4;
  o.points = 1;
  train::SamInteractiveTask task(model, data, o);
  CHECK(task.num_instances() == 24);
  CHECK(task.batch_samples(3) == task.batch_samples(3));
  CHECK(task.batch_samples(0) != task.batch_samples(1));
  // Only trained tensors: the random-Fourier matrix is a buffer.
  for (const auto& [name, t] : task.parameters())
    CHECK(name.find("positional_encoding_gaussian_matrix") == std::string::npos);

  train::TrainOptions t;
  t.steps = 40;
  t.lr = 2e-3;
  t.beta2 = 0.999;
  t.eps = 1e-8;
  t.grad_clip_norm = 1.0;
  const train::TrainResult r = train::train(task, t);
  double first = 0, last = 0;
  for (int i = 0; i < 5; ++i) first += r.losses[i] / 5, last += r.losses[r.losses.size() - 1 - i] / 5;
  MESSAGE("loss " << first << " -> " << last);
  CHECK(last < 0.7 * first);

  // The trained weights survive the fp16 file, and the evaluation runs the predictor.
  train::save_sam_fp16_safetensors(dir.file("m.safetensors"), *model, {{"ovseg.sam.decoder_heads", "8"}});
  const auto loaded = models::SamModel::load(dir.file("m.safetensors"));
  const train::ClickEvalResult e = train::evaluate_single_clicks(loaded, data);
  CHECK(e.instances == 24);
  MESSAGE("single " << e.single_iou << ", best of 3 " << e.best_of_3_iou << ", flood fill " << e.flood_fill_iou);
  CHECK(e.flood_fill_iou == doctest::Approx(1.0));  // flat-coloured objects: the baseline is perfect here
  CHECK(e.best_of_3_iou >= e.chosen_of_3_iou);
  CHECK(e.best_of_3_iou > 0.0);  // 40 steps from scratch: the masks are only starting to appear
}
