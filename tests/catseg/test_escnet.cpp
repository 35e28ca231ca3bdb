// ESC-Net (the escnet stage in plugins/catseg; no public code to pin it to):
// the pseudo-prompt generator on a hand-made correlation, SAM weights taken
// from a SAM checkpoint, "none" being CAT-Seg exactly, and each prompt kind
// reaching the output.
#include <doctest/doctest.h>

#include <filesystem>
#include <functional>
#include <unistd.h>

#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x

#include "../../plugins/catseg/escnet_sam_block.hpp"
#include "catseg_test_util.hpp"
#include "ovseg/host/map_stage_context.hpp"

using namespace catseg_test;
namespace fs = std::filesystem;

namespace {

const std::string kWorldSam = OVSEG_SOURCE_DIR "/host/models/embedded/world-sam.safetensors";

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

at::Tensor run(ovseg::Stage& stage, const at::Tensor& image) {
  ovseg::MapStageContext ctx;
  ctx.inputs["image"] = ovseg::Image{image};
  stage.run(ctx);
  return std::get<ovseg::Logits>(ctx.outputs.at("logits")).logits;
}

std::map<std::string, ovseg::ParamValue> esc_params(const std::string& clip, const std::string& sam_block,
                                                    const std::string& prompts = "both") {
  auto p = stage_params(padded_variant(), clip);
  p["clip_resolution"] = int64_t{128};  // an 8x8 grid
  p["window_size"] = int64_t{4};
  p["sam_block"] = sam_block;
  p["sam_model"] = kWorldSam;
  p["prompts"] = prompts;
  p["prompt_threshold"] = 0.3;
  return p;
}

}  // namespace

TEST_CASE("ESC-Net pseudo prompts: softmax over classes, threshold, k-means regions, peak points, masks") {
  // 3 classes on a 6x8 grid: class 0 wins on two separate blobs, class 1 on
  // one cell, class 2 nowhere.
  at::Tensor corr = at::zeros({1, 1, 3, 6, 8});
  corr[0][0][0].slice(0, 0, 2).slice(1, 0, 2).fill_(0.3);
  corr[0][0][0][0][0] = 0.4;  // the first blob's peak
  corr[0][0][0].slice(0, 4, 6).slice(1, 6, 8).fill_(0.3);
  corr[0][0][0][5][6] = 0.45;  // the second blob's peak
  corr[0][0][1][3][3] = 0.3;
  ovseg::catseg::EscOptions o;
  o.regions = 2;
  o.threshold = 0.5;
  o.temperature = 0.1;  // unsaturated probabilities, so the peaks stand out
  const auto pr = ovseg::catseg::pseudo_prompts(corr, o);
  REQUIRE(pr.points.sizes() == std::vector<int64_t>{3, 2, 2});
  // Class 0: two regions, points at the peaks' cell centres (x, y in [0,1]).
  CHECK(pr.labels[0][0].item<int64_t>() == 1);
  CHECK(pr.labels[0][1].item<int64_t>() == 1);
  std::vector<std::pair<float, float>> pts;
  for (int r = 0; r < 2; ++r) pts.emplace_back(pr.points[0][r][0].item<float>(), pr.points[0][r][1].item<float>());
  std::sort(pts.begin(), pts.end());
  CHECK(pts[0].first == doctest::Approx(0.5 / 8));
  CHECK(pts[0].second == doctest::Approx(0.5 / 6));
  CHECK(pts[1].first == doctest::Approx(6.5 / 8));
  CHECK(pts[1].second == doctest::Approx(5.5 / 6));
  CHECK(pr.masks[0].sum().item<double>() == 8.0);  // both 2x2 blobs
  // Class 1: one cell, so one region; class 2: none.
  CHECK(pr.labels[1][0].item<int64_t>() == 1);
  CHECK(pr.labels[1][1].item<int64_t>() == -1);
  CHECK(pr.points[1][0][0].item<float>() == doctest::Approx(3.5 / 8));
  CHECK((pr.labels[2] == -1).all().item<bool>());
  CHECK(pr.masks[2].sum().item<double>() == 0.0);
}

TEST_CASE(
    "ESC-Net stage: none is CAT-Seg; pretrained SAM blocks carry the SAM file's weights; each prompt kind matters") {
  const fs::path dir = fs::temp_directory_path() / ("ovseg_escnet_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string clip = (dir / "clip.pth").string();
  ovseg::models::save_state_dict_zip(clip, random_clip());
  const at::Tensor image = at::rand({1, 3, 64, 64});
  at::NoGradGuard no_grad;

  auto cat_params = esc_params(clip, "none");
  for (const char* k : {"sam_block", "sam_model", "prompts", "prompt_threshold"}) cat_params.erase(k);
  auto catseg = ovseg::create_stage(catalog(), "catseg", cat_params);
  auto none = ovseg::create_stage(catalog(), "escnet", esc_params(clip, "none"));
  const at::Tensor base = run(*catseg, image);
  CHECK(run(*none, image).equal(base));

  auto pretrained = ovseg::create_stage(catalog(), "escnet", esc_params(clip, "pretrained"));
  auto random = ovseg::create_stage(catalog(), "escnet", esc_params(clip, "random"));
  const auto sam = ovseg::models::load_state_dict(kWorldSam);
  const std::string key = "mask_decoder.transformer.layers.1.cross_attn_image_to_token.v_proj.weight";
  int found = 0;
  for (const auto& t : pretrained->parameters())
    if (t.name == "esc.1." + key) {
      ++found;
      CHECK(t.trainable);
      CHECK(t.tensor.equal(sam.at(key).to(at::kFloat)));
    }
  CHECK(found == 1);
  for (const auto& t : random->parameters())
    if (t.name == "esc.1." + key) CHECK_FALSE(t.tensor.equal(sam.at(key).to(at::kFloat)));

  const at::Tensor with_sam = run(*pretrained, image);
  CHECK(with_sam.sizes() == base.sizes());
  CHECK_FALSE(with_sam.allclose(base));
  auto points = ovseg::create_stage(catalog(), "escnet", esc_params(clip, "pretrained", "points"));
  auto mask = ovseg::create_stage(catalog(), "escnet", esc_params(clip, "pretrained", "mask"));
  CHECK_FALSE(run(*points, image).allclose(with_sam));
  CHECK_FALSE(run(*mask, image).allclose(with_sam));

  auto p = esc_params(clip, "pretrained");
  p["sam_model"] = std::string("");
  CHECK(error_of([&] { ovseg::create_stage(catalog(), "escnet", p); }).find("needs sam_model") != std::string::npos);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST_CASE(
    "ESC-Net stage: class_chunk (SAM blocks, Swin blocks and decoder in chunks of classes) gives the unchunked "
    "output") {
  const fs::path dir = fs::temp_directory_path() / ("ovseg_escnet_chunk_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string clip = (dir / "clip.pth").string();
  ovseg::models::save_state_dict_zip(clip, random_clip());
  const at::Tensor image = at::rand({2, 3, 64, 64});
  at::NoGradGuard no_grad;
  auto p = esc_params(clip, "pretrained");
  p["scores"] = std::string("logits");
  const at::Tensor all = run(*ovseg::create_stage(catalog(), "escnet", p), image);
  for (int64_t chunk : {int64_t{1}, int64_t{2}}) {
    CAPTURE(chunk);
    p["class_chunk"] = chunk;
    const at::Tensor chunked = run(*ovseg::create_stage(catalog(), "escnet", p), image);
    REQUIRE(chunked.sizes() == all.sizes());
    CHECK((chunked - all).abs().max().item<double>() <= 1e-5);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}
