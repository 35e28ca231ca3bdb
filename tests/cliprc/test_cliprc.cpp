// CLIP-RC pieces on their own: the CLIP tower's token-injection hook, the
// encoder's attention mask semantics (a region token sees only its block),
// the released checkpoint layout, the head's reductions, seen-class
// calibration, and the mask losses as the authors' criterion writes them.
#include <doctest/doctest.h>

#include <torch/csrc/jit/serialization/pickle.h>

#include <filesystem>
#include <fstream>

#include "cliprc_test_util.hpp"
#include "eval/eval_test_util.hpp"
#include "ovseg/host/executor.hpp"
#include "ovseg/host/graph.hpp"
#include "ovseg/host/map_stage_context.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/models/clip_model.hpp"
#include "ovseg/train/losses.hpp"

using namespace cliprc_test;
using eval_test::contains;
using eval_test::TempDir;
using ovseg::FeatureMap;
using ovseg::Image;
using ovseg::MapStageContext;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// A released-layout checkpoint as mmcv saves it: {"meta": {...}, "state_dict": {...}}.
void save_mmcv_checkpoint(const std::string& path, const StateDict& sd) {
  c10::impl::GenericDict weights(c10::StringType::get(), c10::TensorType::get());
  for (const auto& [k, v] : sd) weights.insert(k, v.contiguous());
  c10::impl::GenericDict meta(c10::StringType::get(), c10::StringType::get());
  meta.insert("mmseg_version", "0.24.0");
  meta.insert("config", "model = dict(type='CLIPRC', ...)");
  c10::impl::GenericDict root(c10::StringType::get(), c10::AnyType::get());
  root.insert("meta", meta);
  root.insert("state_dict", weights);
  const std::vector<char> bytes = torch::jit::pickle_save(root);
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::map<std::string, ovseg::ParamValue> encoder_params(const Variant& v, const std::string& ckpt) {
  return {{"model", ckpt},
          {"checkpoint", ckpt},
          {"prompt_tokens", v.prompts},
          {"deep_prompts", v.deep},
          {"region_tokens", v.regions}};
}

MapStageContext run_stage(ovseg::Stage& stage, const at::Tensor& image) {
  MapStageContext ctx;
  ctx.inputs["image"] = Image{image};
  stage.run(ctx);
  return ctx;
}

const at::Tensor& out(const MapStageContext& ctx, const std::string& port) {
  return std::get<FeatureMap>(ctx.outputs.at(port)).features;
}

}  // namespace

TEST_CASE("CLIP tower hook: a zero mask and an identity hook change nothing; appended tokens ride along") {
  auto g = geometry();
  auto model = ovseg::models::ClipModel::from_state_dict(ovseg::models::make_random_clip_state_dict(g, 3), "hook");
  const at::Tensor pixels = at::randn({2, 3, 32, 32});
  int64_t gh = 0, gw = 0;
  const at::Tensor x = model->embed_image(pixels, &gh, &gw);
  const int64_t N = x.size(1);
  int calls = 0;
  const at::Tensor hooked = model->run_vision_blocks(x, 0, g.vision_layers, at::zeros({N, N}),
                                                     [&](int64_t, const at::Tensor& t) {
                                                       ++calls;
                                                       return t;
                                                     });
  CHECK(calls == g.vision_layers);
  CHECK(hooked.allclose(model->run_vision_blocks(x, 0, g.vision_layers), 0, 1e-6));
  // A mask of the wrong size is refused, naming the block.
  CHECK(contains(error_of([&] {
                   model->run_vision_blocks(x, 0, 1, at::zeros({N + 1, N + 1}));
                 }),
                 "does not match the " + std::to_string(N) + " tokens entering block 0"));

  ovseg::models::ImageEmbedOptions o;
  o.appended_tokens = at::randn({3, g.vision_width});
  const at::Tensor with = model->embed_image(pixels, &gh, &gw, o);
  REQUIRE(with.size(1) == N + 3);
  CHECK(with.narrow(1, 0, N).equal(x));  // ln_pre is per token
  o.class_embedding_in_cls_position = true;
  const at::Tensor doubled = model->embed_image(pixels, &gh, &gw, o);
  CHECK(doubled.narrow(1, 1, N + 2).equal(with.narrow(1, 1, N + 2)));
  CHECK_FALSE(doubled.select(1, 0).equal(with.select(1, 0)));
}

TEST_CASE("cliprc_encoder: a region token sees only its block of patches; CLS and prompts never see region tokens") {
  // One vision block, so that what a token attends to is what it depends on.
  TempDir dir;
  auto g = geometry();
  g.vision_layers = 1;
  const std::string ckpt = dir.file("one_block.pth");
  ovseg::models::save_state_dict_zip(ckpt, ovseg::models::make_random_clip_state_dict(g, 5));
  auto stage = ovseg::create_stage(catalog(), "cliprc_encoder",
                                   {{"model", ckpt}, {"prompt_tokens", int64_t{3}}, {"region_tokens", int64_t{4}}});
  const at::Tensor a = at::rand({1, 3, 32, 32});
  at::Tensor b = a.clone();
  b.narrow(2, 0, 16).narrow(3, 0, 16).uniform_();  // the top-left 16x16 px = region (0, 0)'s 4x4 patches
  const auto ra = run_stage(*stage, a), rb = run_stage(*stage, b);
  const at::Tensor regions_a = out(ra, "regions"), regions_b = out(rb, "regions");
  REQUIRE(regions_a.sizes() == at::IntArrayRef({1, 64, 2, 2}));
  CHECK_FALSE(regions_a[0].select(1, 0).select(1, 0).allclose(regions_b[0].select(1, 0).select(1, 0)));
  for (auto [i, j] : {std::pair{0, 1}, {1, 0}, {1, 1}})
    CHECK(regions_a[0].select(1, i).select(1, j).allclose(regions_b[0].select(1, i).select(1, j), 0, 1e-6));

  // New region tokens change only the patches of their block; CLS and prompts never see them.
  const at::Tensor global_before = out(ra, "global").clone(), features_before = out(ra, "features").clone();
  for (auto& t : stage->parameters())
    if (t.name == "region_level_bridge")
      t.tensor.narrow(0, 0, 1).add_(at::randn({1, t.tensor.size(1)}));  // region (0, 0)
  const auto rc = run_stage(*stage, a);
  CHECK(out(rc, "global").allclose(global_before, 0, 1e-6));
  const at::Tensor diff = (out(rc, "features") - features_before).abs().amax(1)[0];  // (8, 8)
  CHECK(diff.narrow(0, 0, 4).narrow(1, 0, 4).min().item<float>() > 1e-4);
  CHECK(diff.narrow(0, 4, 4).max().item<float>() < 1e-6);
  CHECK(diff.narrow(1, 4, 4).max().item<float>() < 1e-6);
}

TEST_CASE("cliprc_encoder: outputs, ablation settings and errors") {
  TempDir dir;
  const std::string ckpt = dir.file("clip.pth");
  ovseg::models::save_state_dict_zip(ckpt, ovseg::models::make_random_clip_state_dict(geometry(), 5));
  const at::Tensor image = at::rand({2, 3, 32, 48});  // an 8x12 grid
  for (auto [prompts, deep, regions] : {std::tuple{int64_t{5}, true, int64_t{16}},
                                        {int64_t{5}, false, int64_t{4}},
                                        {int64_t{0}, true, int64_t{4}},
                                        {int64_t{3}, true, int64_t{0}}}) {
    INFO("prompts " << prompts << " deep " << deep << " regions " << regions);
    auto stage = ovseg::create_stage(
        catalog(), "cliprc_encoder",
        {{"model", ckpt}, {"prompt_tokens", prompts}, {"deep_prompts", deep}, {"region_tokens", regions}});
    const auto r = run_stage(*stage, image);
    CHECK(out(r, "features").sizes() == at::IntArrayRef({2, 64, 8, 12}));
    CHECK(out(r, "features").norm(2, 1).allclose(at::ones({2, 8, 12}), 0, 1e-5));
    CHECK(out(r, "global").sizes() == at::IntArrayRef({2, 64, 1, 1}));
    const int64_t side = regions == 16 ? 4 : regions == 4 ? 2 : 1;
    CHECK(out(r, "regions").sizes() == at::IntArrayRef({2, 64, side, side}));
    if (regions == 0) CHECK(out(r, "regions").abs().max().item<float>() == 0.f);
    // What trains by default: the authors' exclude_key = 'prompt'.
    std::set<std::string> trainable;
    for (const auto& t : stage->parameters())
      if (t.trainable) trainable.insert(t.name);
    CHECK(trainable.count("region_level_bridge") == 0);
    CHECK(trainable.count("prompt_embeddings") == (prompts > 0 ? 1u : 0u));
    CHECK(trainable.count("deep_prompt_embeddings") == (prompts > 0 && deep ? 1u : 0u));
    CHECK(trainable.count("prompt_norm.weight") == (deep ? 1u : 0u));
  }
  CHECK(contains(error_of([&] {
                   ovseg::create_stage(catalog(), "cliprc_encoder", {{"model", ckpt}, {"region_tokens", int64_t{8}}});
                 }),
                 "region_tokens = 8 is not a square"));
  auto big = ovseg::create_stage(catalog(), "cliprc_encoder", {{"model", ckpt}, {"region_tokens", int64_t{100}}});
  CHECK(contains(error_of([&] { run_stage(*big, image); }), "a 8x12 patch grid cannot hold 10x10 regions"));
}

TEST_CASE("released checkpoint layout: an mmseg CLIP-RC checkpoint loads as CLIP + prompts + head, or says why not") {
  TempDir dir;
  const Variant v = deep_variant();
  const StateDict sd = random_cliprc_state_dict(v);
  const std::string ckpt = dir.file("clip_rc_zero.pth");
  save_mmcv_checkpoint(ckpt, sd);

  // The CLIP towers under OpenAI's names.
  auto clip = ovseg::models::ClipModel::load(ckpt);
  CHECK(clip->geometry().vision_width == 128);
  CHECK(clip->geometry().image_resolution == 32);  // 8x8 positions of patch 4
  CHECK(clip->geometry().embed_dim == 64);
  CHECK(clip->visual_proj.equal(sd.at("backbone.proj")));
  CHECK(clip->vision_block(2).in_proj_w.equal(sd.at("backbone.transformer.resblocks.2.attn.in_proj_weight")));
  CHECK(clip->text_projection.equal(sd.at("text_encoder.text_projection")));
  CHECK(clip->logit_scale == doctest::Approx(100.0));

  // The encoder's and the head's own tensors, every one from the file.
  auto encoder = ovseg::create_stage(catalog(), "cliprc_encoder", encoder_params(v, ckpt));
  int n = 0;
  for (const auto& t : encoder->parameters()) {
    CHECK_MESSAGE(t.tensor.equal(sd.at("backbone." + t.name)), t.name);
    ++n;
  }
  CHECK(n == 7);
  auto head = ovseg::create_stage(catalog(), "cliprc_head", {{"channels", int64_t{64}}, {"checkpoint", ckpt}});
  int h = 0;
  for (const auto& t : head->parameters()) {
    CHECK_MESSAGE(t.tensor.equal(sd.at("decode_head." + t.name)), t.name);
    ++h;
  }
  int in_file = 0;
  for (const auto& [k, t] : sd)
    in_file += k.rfind("decode_head.", 0) == 0 && !contains(k, ".self_attn.") && !contains(k, ".norm1.");
  CHECK(h == in_file);

  // Another configuration than the file's: the key and both shapes.
  auto params = encoder_params(v, ckpt);
  params["prompt_tokens"] = int64_t{4};
  const std::string wrong = error_of([&] { ovseg::create_stage(catalog(), "cliprc_encoder", params); });
  CHECK(contains(wrong, "'backbone.prompt_embeddings' is (1, 5, 128), this node's 'prompt_embeddings' is (1, 4, 128)"));
  const std::string more = error_of([&] {
    ovseg::create_stage(catalog(), "cliprc_head",
                        {{"channels", int64_t{64}}, {"checkpoint", ckpt}, {"num_layers", int64_t{4}}});
  });
  CHECK(contains(more, "has no tensor 'decode_head.decoder_q.layers.3."));
  const std::string fewer = error_of([&] {
    ovseg::create_stage(catalog(), "cliprc_head",
                        {{"channels", int64_t{64}}, {"checkpoint", ckpt}, {"num_layers", int64_t{2}}});
  });
  CHECK(contains(fewer, "unexpected tensor 'decode_head.decoder_q.layers.2."));
  const std::string channels = error_of([&] {
    auto hd = ovseg::create_stage(catalog(), "cliprc_head", {{"channels", int64_t{32}}});
    MapStageContext ctx;
    ctx.inputs["features"] = FeatureMap{at::zeros({1, 64, 4, 4})};
    ctx.inputs["global"] = FeatureMap{at::zeros({1, 64, 1, 1})};
    ctx.inputs["regions"] = FeatureMap{at::zeros({1, 64, 2, 2})};
    ctx.inputs["text"] = ovseg::TextEmbeddings{at::zeros({2, 64}), {"a", "b"}};
    hd->run(ctx);
  });
  CHECK(contains(channels, "'features' (channels = 32)"));
}

TEST_CASE("cliprc_head: without region tokens its queries are ZegCLIP's [g*t; t], one per class") {
  auto head = ovseg::create_stage(catalog(), "cliprc_head", {{"channels", int64_t{64}}, {"init_seed", int64_t{3}}});
  for (auto& t : head->parameters()) t.tensor.normal_(0, 0.2);
  const at::Tensor features = at::randn({1, 64, 4, 4}), glob = at::randn({1, 64, 1, 1}), text = at::randn({3, 64});
  auto run = [&](const at::Tensor& regions) {
    MapStageContext ctx;
    ctx.inputs["features"] = FeatureMap{features};
    ctx.inputs["global"] = FeatureMap{glob};
    ctx.inputs["regions"] = FeatureMap{regions};
    ctx.inputs["text"] = ovseg::TextEmbeddings{text, {"a", "b", "c"}};
    head->run(ctx);
    return std::get<ovseg::Logits>(ctx.outputs.at("logits")).logits;
  };
  // A zero region map (cliprc_encoder's output with region_tokens = 0) and
  // four identical zero regions average to the same logits.
  const at::Tensor one = run(at::zeros({1, 64, 1, 1})), four = run(at::zeros({1, 64, 2, 2}));
  CHECK(one.sizes() == at::IntArrayRef({1, 3, 4, 4}));
  CHECK(one.allclose(four, 1e-5, 1e-5));
  // Regions matter once they differ.
  CHECK_FALSE(one.allclose(run(at::randn({1, 64, 2, 2})), 1e-3, 1e-3));
}

TEST_CASE(
    "seen_calibration: sigmoid, minus the weight on seen classes (the host's split or seen_classes); a no-op in "
    "training") {
  const std::string toml =
      "[nodes.classes]\nplugin = \"class_embeddings\"\nclass_names = [\"cat\", \"dog\", \"cow\"]\n"
      "embeddings = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.6, 0.0, 0.8]\n"
      "[nodes.pixels]\nplugin = \"pixel_features\"\ninputs = { image = \"input.image\" }\npatch_size = 4\n"
      "[nodes.logits]\nplugin = \"cosine_logits\"\ninputs = { features = \"pixels.features\", text = "
      "\"classes.embeddings\" }\n"
      "[nodes.calib]\nplugin = \"seen_calibration\"\ninputs = { logits = \"logits.logits\" }\n";
  const ovseg::Graph g = ovseg::build_graph(ovseg::parse_pipeline_spec(toml, "calib.toml"), catalog());
  const at::Tensor image = at::rand({1, 3, 8, 8});
  ovseg::Executor split(g, "cpu", {}, {"dog"});
  const auto r = split.run(Image{image});
  const at::Tensor raw = std::get<ovseg::Logits>(r.values.at("logits.logits")).logits;
  const at::Tensor cal = r.logits.logits;
  CHECK(cal.select(1, 1).equal(at::sigmoid(raw.select(1, 1))));                    // dog: unseen
  CHECK(cal.select(1, 0).allclose(at::sigmoid(raw.select(1, 0)) - 0.1, 0, 1e-7));  // cat, cow: seen
  CHECK(cal.select(1, 2).allclose(at::sigmoid(raw.select(1, 2)) - 0.1, 0, 1e-7));
  CHECK(g.nodes.back().plugin->descriptor.zero_shot_split);
  split.set_training(true);
  const auto t = split.run_nodes(Image{image}, std::vector<bool>(g.nodes.size(), true), {});
  CHECK(std::get<ovseg::Logits>(t.at("calib.logits"))
            .logits.equal(std::get<ovseg::Logits>(t.at("logits.logits")).logits));

  auto named = ovseg::build_graph(ovseg::parse_pipeline_spec(toml + "seen_classes = [\"cat\", \"cattle\"]\n",
                                                             "calib.toml"),
                                  catalog());
  ovseg::Executor ex(named, "cpu");
  CHECK(contains(error_of([&] { ex.run(Image{image}); }),
                 "seen_classes names 'cattle', which is not a class of the logits"));
}

TEST_CASE("mask_focal / mask_dice: the authors' criterion (per-class masks, normalised by the masks present)") {
  at::manual_seed(1);
  const at::Tensor logits = at::randn({2, 3, 5, 6});
  at::Tensor target = at::randint(0, 3, {2, 5, 6}, at::kLong);
  target[1] = target[1].masked_fill(target[1] == 2, 0);  // class 2 absent from image 1
  target[0][0] = 255;                                    // ignored pixels
  // Re-stated from the criterion: one-hot over non-ignored pixels, focal
  // averaged over all pixels of every (image, class) mask, dice over the
  // present masks, both summed and divided by the number present.
  double focal = 0, dice = 0;
  int present = 0;
  for (int b = 0; b < 2; ++b)
    for (int k = 0; k < 3; ++k) {
      const at::Tensor x = logits[b][k].flatten().to(at::kDouble);
      const at::Tensor t = (target[b] == k).flatten().to(at::kDouble);
      const at::Tensor p = at::sigmoid(x);
      const at::Tensor ce = -(t * at::log(p) + (1 - t) * at::log(1 - p));
      const at::Tensor pt = p * t + (1 - p) * (1 - t);
      focal += ((0.25 * t + 0.75 * (1 - t)) * ce * (1 - pt).pow(2)).mean().item<double>();
      if (t.sum().item<double>() > 0) {
        ++present;
        dice += 1 - (2 * (p * t).sum() + 1).item<double>() / (p.sum() + t.sum() + 1).item<double>();
      }
    }
  CHECK(present == 5);
  CHECK(ovseg::train::mask_focal_loss(logits, target, 255).item<double>() ==
        doctest::Approx(focal / present).epsilon(1e-6));
  CHECK(ovseg::train::mask_dice_loss(logits, target, 255).item<double>() ==
        doctest::Approx(dice / present).epsilon(1e-6));
  CHECK(ovseg::train::pixel_loss("mask_dice", logits, target, 255).item<double>() ==
        doctest::Approx(dice / present).epsilon(1e-6));
  // Nothing labelled: focal on all-negative masks over 1, dice 0.
  const at::Tensor none = at::full({2, 5, 6}, 255, at::kLong);
  CHECK(ovseg::train::mask_dice_loss(logits, none, 255).item<double>() == 0.0);
  CHECK(std::isfinite(ovseg::train::mask_focal_loss(logits, none, 255).item<double>()));
}
