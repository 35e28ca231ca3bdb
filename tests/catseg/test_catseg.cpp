// CAT-Seg pieces on their own: the released checkpoint layout and the
// loader's errors, which tensors train by default (CLIP's q / v in both
// towers, the aggregator, the upsamplers), inference vs training outputs,
// and the class truncation past pad_len.
#include <doctest/doctest.h>

#include <filesystem>
#include <functional>
#include <set>
#include <unistd.h>

#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x

#include "catseg_test_util.hpp"
#include "ovseg/host/map_stage_context.hpp"

using namespace catseg_test;
namespace fs = std::filesystem;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

struct Files {
  fs::path dir = fs::temp_directory_path() / ("ovseg_catseg_unit_" + std::to_string(::getpid()));
  Files() { fs::create_directories(dir); }
  ~Files() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string path(const std::string& n) const { return (dir / n).string(); }
};

class Context : public ovseg::MapStageContext {
 public:
  explicit Context(bool training) : training_(training) {}
  bool training() const override { return training_; }

 private:
  bool training_;
};

at::Tensor run(ovseg::Stage& stage, const at::Tensor& image, bool training) {
  Context ctx(training);
  ctx.inputs["image"] = ovseg::Image{image};
  stage.set_training(training);
  stage.run(ctx);
  return std::get<ovseg::Logits>(ctx.outputs.at("logits")).logits.detach();
}

// A smaller configuration for the unit checks: 64 px, an 4x4 grid, window 2.
std::map<std::string, ovseg::ParamValue> small_params(const std::string& clip, const std::string& ckpt = "") {
  auto p = stage_params(padded_variant(), clip, ckpt);
  p["clip_resolution"] = int64_t{64};
  p["window_size"] = int64_t{2};
  return p;
}

}  // namespace

TEST_CASE("CAT-Seg loader: a released-layout checkpoint loads; missing, mis-shaped or unknown tensors are named") {
  Files f;
  const std::string clip = f.path("clip.pth"), ckpt = f.path("model_base.pth");
  ovseg::models::save_state_dict_zip(clip, random_clip());
  StateDict sd = random_catseg_state_dict(padded_variant(), clip);
  save_detectron2_checkpoint(ckpt, sd);
  const at::Tensor image = at::rand({1, 3, 40, 56});

  auto plain = ovseg::create_stage(catalog(), "catseg", stage_params(padded_variant(), clip));
  auto loaded = ovseg::create_stage(catalog(), "catseg", stage_params(padded_variant(), clip, ckpt));
  // Every stage tensor took the checkpoint's value.
  for (const auto& t : loaded->parameters()) {
    const std::string key = t.name.rfind("upsample", 0) == 0 ? t.name : "sem_seg_head.predictor." + t.name;
    REQUIRE_MESSAGE(sd.count(key) == 1, key);
    CHECK_MESSAGE(t.tensor.equal(sd.at(key)), key);
  }
  const at::Tensor a = run(*plain, image, false), b = run(*loaded, image, false);
  CHECK(a.sizes() == std::vector<int64_t>{1, 5, 96, 96});
  CHECK_FALSE(a.allclose(b));

  auto write_without = [&](const std::string& key) {
    StateDict s = sd;
    s.erase(key);
    save_detectron2_checkpoint(f.path("edited.pth"), s);
    return f.path("edited.pth");
  };
  const std::string missing = "sem_seg_head.predictor.transformer.layers.1.attention.attention.q.weight";
  CHECK(contains(error_of([&] {
                   ovseg::create_stage(catalog(), "catseg",
                                       stage_params(padded_variant(), clip, write_without(missing)));
                 }),
                 "has no tensor '" + missing + "'"));
  {
    StateDict s = sd;
    s["upsample1.weight"] = at::zeros({128, 99, 2, 2});
    save_detectron2_checkpoint(f.path("shape.pth"), s);
    const std::string e = error_of(
        [&] { ovseg::create_stage(catalog(), "catseg", stage_params(padded_variant(), clip, f.path("shape.pth"))); });
    CHECK(contains(e, "'upsample1.weight' is (128, 99, 2, 2)"));
    CHECK(contains(e, "(128, 32, 2, 2)"));
  }
  {
    StateDict s = sd;
    s["sem_seg_head.predictor.transformer.layers.2.swin_block.block_1.norm1.weight"] = at::ones({32});
    save_detectron2_checkpoint(f.path("extra.pth"), s);
    CHECK(contains(error_of([&] {
                     ovseg::create_stage(catalog(), "catseg",
                                         stage_params(padded_variant(), clip, f.path("extra.pth")));
                   }),
                   "unexpected tensor 'sem_seg_head.predictor.transformer.layers.2.swin_block.block_1.norm1.weight'"));
  }
  // A checkpoint made for another grid: its Swin masks say so.
  CHECK(contains(error_of([&] { ovseg::create_stage(catalog(), "catseg", small_params(clip, ckpt)); }),
                 "block_2.attn_mask"));
}

TEST_CASE(
    "CAT-Seg: CLIP's q / v (image and text towers), the aggregator and the upsamplers train; the rest is frozen") {
  Files f;
  const std::string clip = f.path("clip.pth");
  ovseg::models::save_state_dict_zip(clip, random_clip());
  auto stage = ovseg::create_stage(catalog(), "catseg", small_params(clip));
  std::set<std::string> trainable, frozen;
  for (const auto& t : stage->parameters()) (t.trainable ? trainable : frozen).insert(t.name);
  for (const char* n : {"clip_model.visual.transformer.resblocks.0.attn.q_proj_weight",
                        "clip_model.visual.transformer.resblocks.11.attn.v_proj_weight",
                        "clip_model.transformer.resblocks.1.attn.q_proj_weight",
                        "clip_model.transformer.resblocks.0.attn.v_proj_weight", "transformer.conv1.weight",
                        "transformer.layers.0.attention.padding_tokens", "transformer.head.bias", "upsample2.weight"})
    CHECK_MESSAGE(trainable.count(n) == 1, n);
  for (const char* n :
       {"clip_model.visual.transformer.resblocks.0.attn.k_proj_weight",
        "clip_model.visual.transformer.resblocks.0.attn.in_proj_bias", "clip_model.visual.positional_embedding",
        "clip_model.positional_embedding", "clip_model.token_embedding.weight", "clip_model.visual.proj"})
    CHECK_MESSAGE(frozen.count(n) == 1, n);
  for (const auto& n : trainable)
    if (n.rfind("clip_model.", 0) == 0)
      CHECK_MESSAGE((contains(n, "q_proj_weight") || contains(n, "v_proj_weight")), n);

  // Inference: sigmoid scores in (0, 1); training: logits with a gradient
  // path to CLIP's q projection and to the text tower.
  const at::Tensor image = at::rand({2, 3, 64, 64});
  const at::Tensor scores = run(*stage, image, false);
  CHECK(scores.sizes() == std::vector<int64_t>{2, 5, 16, 16});
  CHECK(scores.min().item<double>() > 0.0);
  CHECK(scores.max().item<double>() < 1.0);
  at::Tensor q_img, q_txt;
  for (auto& t : stage->parameters()) {
    if (t.name == "clip_model.visual.transformer.resblocks.0.attn.q_proj_weight") q_img = t.tensor;
    if (t.name == "clip_model.transformer.resblocks.0.attn.q_proj_weight") q_txt = t.tensor;
    if (t.trainable) t.tensor.requires_grad_(true);
  }
  Context ctx(true);
  ctx.inputs["image"] = ovseg::Image{image};
  stage->set_training(true);
  stage->run(ctx);
  const at::Tensor logits = std::get<ovseg::Logits>(ctx.outputs.at("logits")).logits;
  logits.sigmoid().mean().backward();
  REQUIRE(q_img.grad().defined());
  REQUIRE(q_txt.grad().defined());
  CHECK(q_img.grad().abs().sum().item<double>() > 0);
  CHECK(q_txt.grad().abs().sum().item<double>() > 0);
}

TEST_CASE("CAT-Seg: past pad_len classes, the best-correlated are kept and the rest score -100 (sigmoid ~0)") {
  Files f;
  const std::string clip = f.path("clip.pth");
  ovseg::models::save_state_dict_zip(clip, random_clip());
  auto p = small_params(clip);
  p["pad_len"] = int64_t{3};
  p["scores"] = std::string("logits");
  auto stage = ovseg::create_stage(catalog(), "catseg", p);
  const at::Tensor out = run(*stage, at::rand({1, 3, 64, 64}), false);
  int cut = 0;
  for (int64_t k = 0; k < 5; ++k) cut += (out[0][k] == -100).all().item<bool>() ? 1 : 0;
  CHECK(cut == 2);
  // A configuration the decoder cannot build is refused, naming the setting.
  p["decoder_dims"] = std::vector<int64_t>{8, 8};
  CHECK(contains(error_of([&] { ovseg::create_stage(catalog(), "catseg", p); }), "decoder_dims"));
}

TEST_CASE("CAT-Seg: class_chunk (per-class Swin blocks and decoder in chunks) gives the unchunked output") {
  Files f;
  const std::string clip = f.path("clip.pth");
  ovseg::models::save_state_dict_zip(clip, random_clip());
  const at::Tensor image = at::rand({2, 3, 64, 64});
  at::NoGradGuard no_grad;
  for (int64_t pad_len : {int64_t{8}, int64_t{3}}) {  // 5 classes padded, or cut to 3
    auto p = small_params(clip);
    p["pad_len"] = pad_len;
    p["scores"] = std::string("logits");
    const at::Tensor all = run(*ovseg::create_stage(catalog(), "catseg", p), image, false);
    for (int64_t chunk : {int64_t{1}, int64_t{2}, int64_t{5}}) {
      CAPTURE(pad_len);
      CAPTURE(chunk);
      p["class_chunk"] = chunk;
      const at::Tensor chunked = run(*ovseg::create_stage(catalog(), "catseg", p), image, false);
      REQUIRE(chunked.sizes() == all.sizes());
      CHECK((chunked - all).abs().max().item<double>() <= 1e-5);
    }
  }
}
