// The SAM plugins in graphs and alone, and `ovseg sam`, run as a user would.
// The prompted pipeline is pinned to the same reference outputs as the
// library (test_sam_parity.cpp): a graph of sam_image_encoder, sam_prompts
// and sam_mask_decoder is SamPredictor.set_image + predict.
#include <ovseg/models/sam_auto_masks.hpp>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "built_plugins.hpp"
#include "ovseg/host/executor.hpp"
#include "ovseg/host/graph.hpp"
#include "ovseg/host/image_io.hpp"
#include "ovseg/host/map_stage_context.hpp"
#include "ovseg/host/pipeline_spec.hpp"
#include "ovseg/host/plugin_loader.hpp"
#include "ovseg/sdk.hpp"
#include "../models/models_test_util.hpp"
#include "sam_test_util.hpp"

using namespace ovseg;
using sam_test::error_of;
using sam_test::fixture;

namespace {

using ovseg_test::catalog;

// The parity image as the Image port carries it: (1,3,H,W) float in [0,1].
at::Tensor parity_image() { return fixture("parity_image").permute({2, 0, 1}).unsqueeze(0).to(at::kFloat) / 255.0; }

std::string encoder_nodes(const std::string& checkpoint) {
  return "[nodes.sam]\nplugin = \"sam_image_encoder\"\ninputs = { image = \"input.image\" }\nmodel = \"" + checkpoint +
         "\"\n";
}

RunResult run_toml(const std::string& toml, const at::Tensor& image) {
  Graph g = build_graph(parse_pipeline_spec(toml, "sam_test.toml"), catalog());
  Executor ex(g, "cpu");
  return ex.run(Image{image});
}

struct Output {
  int code;
  std::string text;
};

Output cli(const std::string& args) {
  const std::string cmd = std::string(OVSEG_CLI) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  return {WEXITSTATUS(pclose(p)), out};
}

}  // namespace

TEST_CASE("a sam_image_encoder -> sam_prompts -> sam_mask_decoder graph reproduces segment_anything's predictor") {
  const std::string ckpt = sam_test::vit_test_model().path;
  // The one-click, multimask case of the parity fixtures (point 39,30).
  const std::string toml = encoder_nodes(ckpt) +
                           "[nodes.click]\nplugin = \"sam_prompts\"\ninputs = { image = \"input.image\" }\n"
                           "points = [39.0, 30.0]\n"
                           "[nodes.decoder]\nplugin = \"sam_mask_decoder\"\n"
                           "inputs = { embeddings = \"sam.embeddings\", prompts = \"click.prompts\", model = "
                           "\"sam.model\", image = \"input.image\" }\n"
                           "[nodes.logits]\nplugin = \"sam_masks_to_logits\"\ninputs = { masks = \"decoder.masks\" }\n";
  const RunResult r = run_toml(toml, parity_image());
  const Masks& m = std::get<Masks>(r.values.at("decoder.masks"));
  CHECK(m.masks_per_prompt == 3);
  REQUIRE(m.logits.sizes() == at::IntArrayRef{1, 3, 96, 128});
  SAM_CHECK_CLOSE(m.logits[0], fixture("vit_test_point_multi_masks"), "pipeline masks");
  SAM_CHECK_CLOSE(m.scores[0], fixture("vit_test_point_multi_iou"), "pipeline scores");
  SAM_CHECK_CLOSE(m.low_res[0], fixture("vit_test_point_multi_low_res"), "pipeline low-res logits");
  // sam_masks_to_logits: background first, then one channel per mask.
  CHECK(r.logits.class_names == std::vector<std::string>{"background", "mask_0", "mask_1", "mask_2"});
  CHECK(r.logits.logits.sizes() == at::IntArrayRef{1, 4, 96, 128});
  CHECK(at::equal(r.logits.logits.narrow(1, 1, 3), m.logits));
}

TEST_CASE("sam_prompts: 'each' makes one prompt per point (or point + box), 'together' one prompt of all") {
  const at::Tensor image = at::zeros({2, 3, 20, 30});
  auto prompts = [&](std::map<std::string, ParamValue> params) {
    auto stage = create_stage(catalog(), "sam_prompts", params);
    MapStageContext ctx;
    ctx.inputs["image"] = Image{image};
    stage->run(ctx);
    return std::get<Prompts>(ctx.outputs.at("prompts"));
  };
  const Prompts each = prompts({{"points", std::vector<double>{1, 2, 3, 4}}, {"labels", std::vector<int64_t>{1, 0}}});
  CHECK(each.points.sizes() == at::IntArrayRef{2, 2, 1, 2});
  CHECK(each.point_labels[1].flatten().equal(at::tensor({int64_t(1), int64_t(0)})));
  CHECK_FALSE(each.boxes.defined());
  const Prompts together = prompts({{"points", std::vector<double>{1, 2, 3, 4}},
                                    {"boxes", std::vector<double>{0, 0, 9, 9}},
                                    {"mode", std::string("together")}});
  CHECK(together.points.sizes() == at::IntArrayRef{2, 1, 2, 2});
  CHECK(together.boxes.sizes() == at::IntArrayRef{2, 1, 4});
  CHECK(together.num_prompts() == 1);
  auto err = [&](std::map<std::string, ParamValue> params) { return error_of([&] { prompts(params); }); };
  CHECK(err({{"points", std::vector<double>{1, 2, 3}}}).find("x, y pairs; it has 3 numbers") != std::string::npos);
  CHECK(err({{"points", std::vector<double>{1, 2}}, {"labels", std::vector<int64_t>{2}}}).find("holds 2") !=
        std::string::npos);
  CHECK(err({{"points", std::vector<double>{1, 2, 3, 4}}, {"boxes", std::vector<double>{0, 0, 9, 9}}})
            .find("pairs point i with box i, but there are 2 points and 1 boxes") != std::string::npos);
  CHECK(err({}).find("no prompt") != std::string::npos);
}

TEST_CASE("malformed prompts are refused naming the node, the port and the shape") {
  const auto model = sam_test::vit_test_model().model;
  auto decode = [&](const Prompts& p) {
    auto stage = create_stage(catalog(), "sam_mask_decoder", {}, "dec");
    MapStageContext ctx("dec");
    ctx.inputs["image"] = Image{at::zeros({1, 3, 32, 32})};
    ctx.inputs["embeddings"] = FeatureMap{at::zeros({1, 64, 16, 16})};
    ctx.inputs["model"] = ModelHandle::of(model);
    ctx.inputs["prompts"] = p;
    stage->run(ctx);
    return std::get<Masks>(ctx.outputs.at("masks"));
  };
  Prompts bad;
  bad.points = at::zeros({1, 2, 3});
  bad.point_labels = at::ones({1, 2}, at::kLong);
  CHECK(error_of([&] { decode(bad); }) ==
        "node 'dec' input 'prompts': points has shape (1, 2, 3), expected (B, P, N, 2) with B = 1 image");
  Prompts labels;
  labels.points = at::zeros({1, 2, 3, 2});
  labels.point_labels = at::ones({1, 2, 2}, at::kLong);
  CHECK(error_of([&] { decode(labels); }) ==
        "node 'dec' input 'prompts': point_labels has shape (1, 2, 2), expected (B, P, N) = (1, 2, 3)");
  Prompts mixed;
  mixed.points = at::zeros({1, 2, 1, 2});
  mixed.point_labels = at::ones({1, 2, 1}, at::kLong);
  mixed.boxes = at::zeros({1, 3, 4});
  CHECK(error_of([&] { decode(mixed); }).find("boxes has shape (1, 3, 4): 3 prompts per image, other parts have 2") !=
        std::string::npos);
  Prompts mask;
  mask.mask_inputs = at::zeros({1, 1, 1, 256, 256});
  CHECK(error_of([&] { decode(mask); }).find("mask_inputs has shape (1, 1, 1, 256, 256), expected (B, P, 1, 64, 64)") !=
        std::string::npos);
  Prompts none;  // no prompt at all: no masks
  CHECK(decode(none).logits.sizes() == at::IntArrayRef{1, 0, 32, 32});
  Prompts ok;
  ok.boxes = at::tensor({2.f, 2.f, 20.f, 25.f}).view({1, 1, 4});
  const Masks m = decode(ok);
  CHECK(m.logits.sizes() == at::IntArrayRef{1, 3, 32, 32});
  // A CLIP handle on the model port.
  auto stage = create_stage(catalog(), "sam_mask_decoder", {}, "dec");
  MapStageContext ctx("dec");
  ctx.inputs["model"] = ModelHandle::of(
      models::ClipModel::from_state_dict(models::make_random_clip_state_dict(ovseg_test::small_geometry(), 1), "clip"));
  CHECK(error_of([&] { stage->run(ctx); })
            .find("node 'dec' input 'model': expected a model of type ovseg::models::SamModel, got "
                  "ovseg::models::ClipModel -- fix: wire it to a sam_image_encoder") != std::string::npos);
}

TEST_CASE("graphs that wire SAM ports wrongly fail at load, naming the node and both types") {
  const std::string toml = encoder_nodes(sam_test::vit_test_model().path) +
                           "[nodes.decoder]\nplugin = \"sam_mask_decoder\"\n"
                           "inputs = { embeddings = \"sam.embeddings\", prompts = \"sam.embeddings\", model = "
                           "\"sam.model\", image = \"input.image\" }\n"
                           "[nodes.logits]\nplugin = \"sam_masks_to_logits\"\ninputs = { masks = \"decoder.masks\" }\n";
  const std::string e = error_of([&] { build_graph(parse_pipeline_spec(toml, "bad.toml"), catalog()); });
  CHECK(e.find("decoder") != std::string::npos);
  CHECK(e.find("Prompts") != std::string::npos);
  CHECK(e.find("FeatureMap") != std::string::npos);
}

TEST_CASE("sam_image_encoder taps feed FeatureMap outputs; a wired tap needs a listed block") {
  const auto ckpt = sam_test::vit_test_model().path;
  // A context where only the listed outputs are read.
  struct Wanted : MapStageContext {
    std::set<std::string> wanted;
    bool wants_output(const std::string& port) const override { return wanted.count(port) != 0; }
  } ctx;
  ctx.wanted = {"embeddings", "model", "tap_0", "tap_1"};
  ctx.inputs["image"] = Image{parity_image()};
  auto stage = create_stage(catalog(), "sam_image_encoder", {{"model", ckpt}, {"taps", std::vector<int64_t>{0, 2}}});
  stage->run(ctx);
  CHECK(std::get<FeatureMap>(ctx.outputs.at("tap_1")).features.sizes() == at::IntArrayRef{1, 64, 16, 16});
  SAM_CHECK_CLOSE(std::get<FeatureMap>(ctx.outputs.at("embeddings")).features, fixture("vit_test_embeddings"),
                  "encoder stage embeddings");
  auto one = create_stage(catalog(), "sam_image_encoder", {{"model", ckpt}, {"taps", std::vector<int64_t>{1}}});
  CHECK(error_of([&] { one->run(ctx); }).find("output 'tap_1' is wired but parameter 'taps' lists 1 block(s)") !=
        std::string::npos);
  CHECK(error_of([&] {
          create_stage(catalog(), "sam_image_encoder", {{"model", ckpt}, {"taps", std::vector<int64_t>{9}}});
        }).find("lists block 9, but") != std::string::npos);
}

TEST_CASE("sam_auto_masks is the library's automatic mask generator, proposals padded per batch") {
  const auto model = sam_test::vit_test_model().model;
  auto stage = create_stage(catalog(), "sam_auto_masks",
                            {{"points_per_side", int64_t(4)},
                             {"pred_iou_thresh", 0.0},
                             {"stability_score_thresh", 0.0}});
  MapStageContext ctx;
  const at::Tensor image = parity_image();
  ctx.inputs["image"] = Image{at::cat({image, image.flip(3)})};
  ctx.inputs["model"] = ModelHandle::of(model);
  stage->run(ctx);
  const Masks& m = std::get<Masks>(ctx.outputs.at("masks"));
  models::SamAutoMaskOptions o;
  o.points_per_side = 4;
  o.pred_iou_thresh = 0.0;
  o.stability_score_thresh = 0.0;
  const auto direct = models::sam_generate_masks(model, models::sam_image_to_uint8(image), o);
  REQUIRE(!direct.empty());
  CHECK(m.logits.size(1) >= static_cast<int64_t>(direct.size()));
  for (size_t i = 0; i < direct.size(); ++i) {
    CHECK(at::equal(m.logits[0][static_cast<int64_t>(i)] > 0, direct[i].segmentation));
    CHECK(m.scores[0][static_cast<int64_t>(i)].item<double>() == doctest::Approx(direct[i].predicted_iou));
  }
}

TEST_CASE("ovseg plugins prints the SAM stages with their Prompts and Masks ports") {
  const Output o = cli("plugins sam_mask_decoder --plugin-dir " OVSEG_TEST_PLUGIN_DIR);
  REQUIRE(o.code == 0);
  CHECK(o.text.find("in   prompts: Prompts") != std::string::npos);
  CHECK(o.text.find("out  masks: Masks") != std::string::npos);
}

TEST_CASE("ovseg sam writes masks, an overlay and scores; --auto writes proposals") {
  ovseg_test::TempDir dir;
  const std::string ckpt = sam_test::vit_test_model().path;
  const std::string image = dir.file("img.png");
  write_overlay_png(image, parity_image()[0], at::zeros({96, 128}, at::kLong), 0.0);  // the parity image as a PNG
  const Output o = cli("sam --model " + ckpt + " --image " + image + " --point 39,30 --out " + dir.file("out"));
  REQUIRE_MESSAGE(o.code == 0, o.text);
  std::ifstream in(dir.file("out/scores.json"));
  const auto j = nlohmann::json::parse(in);
  REQUIRE(j["masks"].size() == 3);
  // Same numbers as the reference predictor for this click.
  const at::Tensor iou = fixture("vit_test_point_multi_iou");
  for (int i = 0; i < 3; ++i)
    CHECK(j["masks"][i]["predicted_iou"].get<double>() == doctest::Approx(iou[i].item<double>()).epsilon(1e-6));
  const at::Tensor mask0 = load_image(dir.file("out/mask_0.png"))[0][0] > 0.5;
  CHECK(at::equal(mask0, fixture("vit_test_point_multi_masks")[0] > 0));
  CHECK(std::filesystem::exists(dir.file("out/overlay.png")));

  const Output a = cli("sam --model " + ckpt + " --image " + image +
                       " --auto --points-per-side 4 --pred-iou-thresh 0 --stability-thresh 0 --out " +
                       dir.file("auto"));
  REQUIRE_MESSAGE(a.code == 0, a.text);
  std::ifstream pin(dir.file("auto/proposals.json"));
  const auto p = nlohmann::json::parse(pin);
  CHECK(p["proposals"].size() >= 1);
  CHECK(std::filesystem::exists(dir.file("auto/proposal_000.png")));

  // The embedded world SAM by its zoo name, a click and a box.
  const Output w = cli("sam --model ovseg:world-sam --image " + image + " --point 39,30 --box 10,10,70,60 --out " +
                       dir.file("world"));
  REQUIRE_MESSAGE(w.code == 0, w.text);
  CHECK(w.text.find("wrote 1 mask(s)") != std::string::npos);  // a click and a box: one mask

  CHECK(cli("sam --model " + ckpt + " --image " + image + " --out " + dir.file("x")).code == 2);  // no prompt
  CHECK(cli("sam --model " + ckpt + " --image " + image + " --point 1,2,5 --out " + dir.file("x")).code == 2);
  CHECK(cli("sam --model " + ckpt + " --image " + image + " --auto --point 1,2 --out " + dir.file("x")).code == 2);
  const Output missing = cli("sam --model " + dir.file("none.pth") + " --image " + image + " --point 1,2 --out " +
                             dir.file("x"));
  CHECK(missing.code == 1);
  CHECK(missing.text.find("none.pth") != std::string::npos);
}
