// Chimera-Seg's pieces on their own: the CLIP Semantic Head against the CLIP
// tower it reuses (same weights, same numbers), its CLIP tensors frozen
// through training steps while the body and adapter learn, the SGD schedule
// (through the stage), the SGD and SAM losses on hand-made cases, and errors.
// A random CLIP checkpoint in OpenAI's layout (safetensors) stands in for the
// real tower.
#include <doctest/doctest.h>

#include <torch/optim/adam.h>

#include <cmath>
#include <functional>
#include <map>
#include <vector>

#include "chimera_losses.hpp"
#include "eval/eval_test_util.hpp"
#include "ovseg/host/map_stage_context.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/models/clip_model.hpp"
#include "ovseg/models/random_clip.hpp"
#include "ovseg/models/shared_clip.hpp"

using eval_test::catalog;
using eval_test::contains;
using eval_test::TempDir;
using ovseg::FeatureMap;
using ovseg::Image;
using ovseg::MapStageContext;
namespace chimera = ovseg::chimera;

namespace {

// A context in training mode that keeps the losses a stage adds.
class TrainingContext : public MapStageContext {
 public:
  bool training() const override { return true; }
  void add_loss(const std::string& name, const at::Tensor& value) override { losses[name] = value; }
  std::map<std::string, at::Tensor> losses;
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// ViT width 128 (2 heads) x 3 blocks, patch 4 at 32 px (8x8 grid), embed 32.
ovseg::models::ClipGeometry geometry() {
  auto g = ovseg::models::clip_geometry_preset("tiny");
  g.vision_width = 128;
  g.vision_heads = 2;
  g.vision_layers = 3;
  g.patch_size = 4;
  g.image_resolution = 32;
  g.embed_dim = 32;
  g.vocab_size = 512;
  return g;
}

// One random checkpoint per process, written once (shared_clip_model caches by path).
const std::string& checkpoint() {
  static TempDir dir;
  static const std::string path = [] {
    const std::string p = dir.file("clip.safetensors");
    ovseg::models::save_safetensors(p, ovseg::models::make_random_clip_state_dict(geometry(), 11));
    return p;
  }();
  return path;
}

const at::Tensor& features_of(const MapStageContext& ctx) {
  return std::get<FeatureMap>(ctx.outputs.at("features")).features;
}

std::map<std::string, at::Tensor> params_by_name(ovseg::Stage& s) {
  std::map<std::string, at::Tensor> out;
  for (auto& t : s.parameters()) out[t.name] = t.tensor;
  return out;
}

double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  return ((a.to(at::kDouble) - b.to(at::kDouble)).abs().max() / b.to(at::kDouble).abs().max()).item<double>();
}

}  // namespace

TEST_CASE("CSH: its frozen blocks, ln_post and proj reproduce the CLIP tower for the same input (N = 0..3)") {
  const auto model = ovseg::models::ClipModel::load(checkpoint());
  const int64_t L = model->geometry().vision_layers, W = model->geometry().vision_width;
  at::manual_seed(3);
  const at::Tensor pixels = at::randn({1, 3, 32, 32});
  int64_t gh = 0, gw = 0;
  const at::Tensor x0 = model->embed_image(pixels, &gh, &gw);
  const at::Tensor expected = model->dense_features(pixels);  // (1, 64, embed): the whole tower
  for (int64_t N = 0; N <= L; ++N) {
    CAPTURE(N);
    // The tokens entering block L-N, handed to the CSH as if the body had made
    // them: patches as the body's features, the CLS token as the CSH's token,
    // the adapter set to the identity.
    const at::Tensor xs = model->run_vision_blocks(x0, 0, L - N);
    auto csh = ovseg::create_stage(catalog(), "chimera_head",
                                   {{"model", checkpoint()}, {"partial_blocks", N}, {"body_channels", W}});
    auto p = params_by_name(*csh);
    {
      at::NoGradGuard g;
      p.at("adapter.0.weight").copy_(at::eye(W));
      p.at("adapter.0.bias").zero_();
      if (N > 0) p.at("cls_token").copy_(xs.narrow(1, 0, 1));
    }
    CHECK(p.count("cls_token") == (N > 0 ? 1u : 0u));
    // Frozen CLIP tensors: exactly the last N blocks, ln_post and proj.
    for (int64_t i = 0; i < L; ++i)
      CHECK(p.count("visual.transformer.resblocks." + std::to_string(i) + ".attn.in_proj_weight") ==
            (i >= L - N ? 1u : 0u));
    CHECK(p.count("visual.proj") == 1);
    CHECK(p.count("visual.ln_post.weight") == 1);
    CHECK(p.count("visual.conv1.weight") == 0);

    MapStageContext ctx;
    ctx.inputs["features"] = FeatureMap{xs.narrow(1, 1, gh * gw).transpose(1, 2).reshape({1, W, gh, gw})};
    csh->run(ctx);
    const at::Tensor got = features_of(ctx).flatten(2).transpose(1, 2);  // (1, 64, embed)
    REQUIRE(got.sizes() == expected.sizes());
    const double d = rel_diff(got, expected);
    MESSAGE("N = " << N << ": max relative difference to the CLIP tower " << d);
    CHECK(d == 0.0);  // the same blocks on the same tokens: bit for bit
  }
}

TEST_CASE("CSH: the CLS token starts as CLIP's CLS token alone through the blocks before the head") {
  const auto model = ovseg::models::ClipModel::load(checkpoint());
  const int64_t L = model->geometry().vision_layers;
  auto csh = ovseg::create_stage(catalog(), "chimera_head",
                                 {{"model", checkpoint()},
                                  {"partial_blocks", int64_t{1}},
                                  {"body_channels", int64_t{8}}});
  at::Tensor c = (model->class_embedding + model->vision_positional_embedding[0]).view({1, 1, -1});
  c = model->run_vision_blocks(ovseg::models::layer_norm(c, model->ln_pre_w, model->ln_pre_b), 0, L - 1);
  CHECK(at::equal(params_by_name(*csh).at("cls_token"), c));
  auto none = ovseg::create_stage(catalog(), "chimera_head",
                                  {{"model", checkpoint()}, {"cls_token", false}, {"body_channels", int64_t{8}}});
  CHECK(params_by_name(*none).count("cls_token") == 0);
}

TEST_CASE(
    "Training steps: body and adapter learn, the CSH's CLIP tensors and the shared tower stay bit-identical, "
    "every loss is finite and falls") {
  const std::string ckpt = checkpoint();
  auto body = ovseg::create_stage(catalog(), "chimera_body",
                                  {{"widths", std::vector<int64_t>{16, 32}}, {"blocks", int64_t{1}}});
  auto csh = ovseg::create_stage(catalog(), "chimera_head",
                                 {{"model", ckpt},
                                  {"partial_blocks", int64_t{2}},
                                  {"body_channels", int64_t{32}},
                                  {"sgd_schedule", "constant"},
                                  {"sgd_start_ratio", 0.5}});
  std::vector<at::Tensor> trainable;
  std::map<std::string, at::Tensor> frozen_before;
  for (auto* s : {body.get(), csh.get()})
    for (auto& t : s->parameters()) {
      if (t.trainable) {
        t.tensor.requires_grad_(true);
        trainable.push_back(t.tensor);
      } else {
        frozen_before[t.name] = t.tensor.clone();
      }
    }
  CHECK(frozen_before.size() == 2 * 12 + 3);  // two blocks of 12 tensors, ln_post, proj
  for (auto* s : {body.get(), csh.get()}) s->set_training(true);
  const auto reference = ovseg::models::ClipModel::load(ckpt);
  const auto shared = ovseg::models::shared_clip_model(ckpt, at::kCPU);

  // Four different-looking crops (a colour each, some noise), so CLIP's
  // image embeddings differ and InfoNCE over the batch has something to learn.
  at::manual_seed(5);
  const at::Tensor colours = at::tensor({0.9f, 0.1f, 0.1f, 0.1f, 0.8f, 0.2f, 0.1f, 0.2f, 0.9f, 0.9f, 0.9f, 0.1f})
                                 .view({4, 3, 1, 1});
  const at::Tensor images = (colours + 0.1 * at::randn({4, 3, 32, 32})).clamp(0, 1);
  at::Tensor labels = at::zeros({4, 32, 32}, at::kLong);  // quadrants of 3 classes, a void corner
  labels.narrow(1, 0, 16).narrow(2, 16, 16).fill_(1);
  labels.narrow(1, 16, 16).narrow(2, 0, 16).fill_(2);
  labels.narrow(1, 16, 16).narrow(2, 16, 16).fill_(255);
  const at::Tensor text = at::randn({3, 32});
  torch::optim::Adam opt(trainable, torch::optim::AdamOptions(3e-3));
  std::map<std::string, std::vector<double>> history;
  for (int step = 0; step < 8; ++step) {
    TrainingContext b;
    b.inputs["image"] = Image{images};
    body->run(b);
    TrainingContext c;
    c.inputs["features"] = b.outputs.at("features");
    c.inputs["image"] = Image{images};
    c.inputs["text"] = ovseg::TextEmbeddings{text, {"a", "b", "c"}};
    c.inputs["labels"] = ovseg::LabelMap{labels, {"a", "b", "c"}};
    csh->run(c);
    REQUIRE(c.losses.count("sgd") == 1);
    REQUIRE(c.losses.count("sam") == 1);
    // The pipeline's pixel loss: cosine logits x 40, upsampled, CE with void ignored.
    const at::Tensor f = features_of(c);
    at::Tensor logits = at::einsum("bdhw,kd->bkhw", {ovseg::l2_normalize(f, 1), ovseg::l2_normalize(text, 1)}) * 40.0;
    logits = at::upsample_bilinear2d(logits, {32, 32}, false);
    const at::Tensor ce = at::nll_loss2d(at::log_softmax(logits, 1), labels, {}, at::Reduction::Mean, 255);
    const at::Tensor total = ce + c.losses["sgd"] + c.losses["sam"];
    history["ce"].push_back(ce.item<double>());
    history["sgd"].push_back(c.losses["sgd"].item<double>());
    history["sam"].push_back(c.losses["sam"].item<double>());
    history["total"].push_back(total.item<double>());
    opt.zero_grad();
    total.backward();
    opt.step();
  }
  for (const auto& [name, h] : history) {
    CAPTURE(name);
    for (double v : h) CHECK(std::isfinite(v));
    MESSAGE(name << ": " << h.front() << " -> " << h.back());
    CHECK(h.back() < h.front());
  }
  // The CSH's CLIP tensors did not move, nor did the tower other nodes share.
  auto after = params_by_name(*csh);
  for (const auto& [name, t] : frozen_before) {
    CAPTURE(name);
    CHECK_FALSE(after.at(name).requires_grad());
    CHECK(at::equal(after.at(name), t));
  }
  const auto ref_tensors = reference->vision_tensors();
  const auto shared_tensors = shared->vision_tensors();
  for (size_t i = 0; i < ref_tensors.size(); ++i) CHECK(at::equal(ref_tensors[i].second, shared_tensors[i].second));
  // The schedule's counter counted the 8 training forwards.
  CHECK(csh->buffers().at(0).tensor.item<int64_t>() == 8);
}

TEST_CASE("SGD schedule: the kept count shrinks as configured, through the stage") {
  CHECK(chimera::sgd_keep_ratio("linear", 1.0, 0.25, 0, 4) == doctest::Approx(1.0));
  CHECK(chimera::sgd_keep_ratio("linear", 1.0, 0.25, 2, 4) == doctest::Approx(0.625));
  CHECK(chimera::sgd_keep_ratio("linear", 1.0, 0.25, 9, 4) == doctest::Approx(0.25));
  CHECK(chimera::sgd_keep_ratio("cosine", 1.0, 0.25, 2, 4) == doctest::Approx(0.625));
  CHECK(chimera::sgd_keep_ratio("cosine", 1.0, 0.25, 1, 4) ==
        doctest::Approx(0.25 + 0.75 * 0.5 * (1 + std::cos(M_PI / 4))));
  CHECK(chimera::sgd_keep_ratio("step", 1.0, 0.25, 1, 4) == doctest::Approx(1.0));
  CHECK(chimera::sgd_keep_ratio("step", 1.0, 0.25, 2, 4) == doctest::Approx(0.25));
  CHECK(chimera::sgd_keep_ratio("constant", 0.5, 0.25, 3, 4) == doctest::Approx(0.5));
  CHECK(chimera::sgd_keep_count(0.25, 64) == 16);
  CHECK(chimera::sgd_keep_count(0.0, 64) == 1);
  CHECK(chimera::sgd_keep_count(0.01, 64) == 1);
  CHECK(chimera::sgd_keep_count(1.0, 64) == 64);
  CHECK(contains(error_of([] { chimera::sgd_keep_ratio("exponential", 1, 0, 0, 1); }), "exponential"));

  // The stage's sgd loss at each training forward equals the loss with the
  // count the schedule prescribes: 8x8 features, linear 1 -> 0.25 over 4
  // forwards: 64, 52, 40, 28, then 16 from the 4th on.
  const auto model = ovseg::models::ClipModel::load(checkpoint());
  auto csh = ovseg::create_stage(
      catalog(), "chimera_head",
      {{"model", checkpoint()}, {"body_channels", int64_t{16}}, {"sgd_steps", int64_t{4}}, {"sgd_loss", "cosine"}});
  at::manual_seed(9);
  const at::Tensor feats = at::randn({2, 16, 8, 8}), images = at::rand({2, 3, 32, 32});
  const at::Tensor teacher = model->encode_image(ovseg::models::normalize_clip_pixels(images));
  const std::vector<int64_t> expected{64, 52, 40, 28, 16, 16};
  for (size_t step = 0; step < expected.size(); ++step) {
    CAPTURE(step);
    TrainingContext ctx;
    ctx.inputs["features"] = FeatureMap{feats};
    ctx.inputs["image"] = Image{images};
    csh->run(ctx);
    const at::Tensor dense = features_of(ctx);
    CHECK(ctx.losses.at("sgd").item<double>() ==
          doctest::Approx(
              chimera::selective_global_distillation(dense, teacher, expected[step], "cosine", 0.07).item<double>())
              .epsilon(1e-6));
    if (expected[step] != 64)  // a different count gives a different loss: the check above can fail
      CHECK(ctx.losses.at("sgd").item<double>() !=
            doctest::Approx(chimera::selective_global_distillation(dense, teacher, 64, "cosine", 0.07).item<double>())
                .epsilon(1e-6));
  }
  // Outside training nothing counts and no loss is added.
  MapStageContext plain;
  plain.inputs["features"] = FeatureMap{feats};
  plain.inputs["image"] = Image{images};
  csh->run(plain);
  CHECK(csh->buffers().at(0).tensor.item<int64_t>() == 6);
}

TEST_CASE("SGD loss: selects the features most similar to the teacher; infonce, cosine and l1 by hand") {
  // Teacher e0 per image; features: 3 aligned with e0 at different angles, one opposite.
  const at::Tensor teacher = at::tensor({1.f, 0.f, 0.f, 1.f}).view({2, 2});  // image 0: e0, image 1: e1
  at::Tensor dense = at::zeros({2, 2, 1, 4});
  auto put = [&](int b, int i, float x, float y) {
    dense[b][0][0][i] = x;
    dense[b][1][0][i] = y;
  };
  put(0, 0, 1, 1), put(0, 1, 1, 0), put(0, 2, -1, 0), put(0, 3, 1, 0.2f);
  put(1, 0, 0, 1), put(1, 1, 1, 0), put(1, 2, 0.5f, 1), put(1, 3, 0, -1);
  const at::Tensor idx = chimera::sgd_selection(dense, teacher, 2);
  CHECK(idx[0][0].item<int64_t>() == 1);
  CHECK(idx[0][1].item<int64_t>() == 3);
  CHECK(idx[1][0].item<int64_t>() == 0);
  CHECK(idx[1][1].item<int64_t>() == 2);
  // keep 1: g = the single best feature, which equals each teacher: cosine / l1 0.
  CHECK(chimera::selective_global_distillation(dense, teacher, 1, "cosine", 0.07).item<double>() ==
        doctest::Approx(0.0).epsilon(1e-6));
  CHECK(chimera::selective_global_distillation(dense, teacher, 1, "l1", 0.07).item<double>() ==
        doctest::Approx(0.0).epsilon(1e-6));
  // infonce with g_i = t_i: logits diag 1/tau, off-diagonal 0.
  const double tau = 0.5, expect = -std::log(std::exp(2.0) / (std::exp(2.0) + 1.0));
  CHECK(chimera::selective_global_distillation(dense, teacher, 1, "infonce", tau).item<double>() ==
        doctest::Approx(expect).epsilon(1e-6));
  // keep 4 (all, image 0): g = mean of the unit vectors.
  const at::Tensor d0 = ovseg::l2_normalize(dense[0].flatten(1), 0).mean(1);
  const double cos0 = (d0[0] / d0.norm()).item<double>();
  const at::Tensor d1 = ovseg::l2_normalize(dense[1].flatten(1), 0).mean(1);
  const double cos1 = (d1[1] / d1.norm()).item<double>();
  CHECK(chimera::selective_global_distillation(dense, teacher, 4, "cosine", 0.07).item<double>() ==
        doctest::Approx(1.0 - (cos0 + cos1) / 2).epsilon(1e-6));
  // Gradients reach the selected features only.
  at::Tensor leaf = dense.clone().requires_grad_(true);
  chimera::selective_global_distillation(leaf, teacher, 2, "cosine", 0.07).backward();
  const at::Tensor gnorm = leaf.grad().pow(2).sum(1).flatten(1);  // (2,4)
  CHECK(gnorm[0][2].item<double>() == 0.0);
  CHECK(gnorm[1][3].item<double>() == 0.0);
}

TEST_CASE("SAM loss: area-weighted class prototypes classified against the text embeddings, void ignored") {
  // 1 image, 2x2 features (D = 2), 2x2 labels: class 0 top row, class 1
  // bottom-left, void bottom-right; 3 classes (class 2 absent).
  at::Tensor dense = at::zeros({1, 2, 2, 2});
  dense[0][0][0][0] = 1, dense[0][1][0][1] = 1;  // top: e0, e1
  dense[0][0][1][0] = 1, dense[0][1][1][0] = 1;  // bottom-left: (1,1)/sqrt2
  dense[0][0][1][1] = -1;                        // bottom-right: void
  const at::Tensor labels = at::tensor({0, 0, 1, 255}, at::kLong).view({1, 2, 2});
  const at::Tensor text = at::tensor({1.f, 1.f, 0.f, 1.f, -1.f, 0.f}).view({3, 2});
  const double tau = 0.5;
  auto ce = [&](const at::Tensor& proto, int64_t cls) {
    const at::Tensor logits = at::matmul(ovseg::l2_normalize(proto, 0), ovseg::l2_normalize(text, 1).t()) / tau;
    return -at::log_softmax(logits, 0)[cls].item<double>();
  };
  const at::Tensor p0 = (at::tensor({1.f, 0.f}) + at::tensor({0.f, 1.f})) / 2;
  const at::Tensor p1 = at::tensor({1.f, 1.f}) / std::sqrt(2.f);
  const double expect = (ce(p0, 0) + ce(p1, 1)) / 2;
  CHECK(chimera::semantic_alignment(dense, text, labels, tau).item<double>() == doctest::Approx(expect).epsilon(1e-6));
  // No labelled pixel: zero, still differentiable.
  at::Tensor leaf = dense.clone().requires_grad_(true);
  const at::Tensor none = chimera::semantic_alignment(leaf, text, at::full({1, 2, 2}, 255, at::kLong), tau);
  CHECK(none.item<double>() == 0.0);
  none.backward();
  CHECK(leaf.grad().defined());
}

TEST_CASE("Errors name the node, the tower and the shapes") {
  CHECK(contains(
      error_of([] {
        ovseg::create_stage(catalog(), "chimera_head", {{"model", checkpoint()}, {"partial_blocks", int64_t{4}}});
      }),
      "has 3 blocks"));
  auto csh = ovseg::create_stage(catalog(), "chimera_head", {{"model", checkpoint()}, {"body_channels", int64_t{16}}});
  MapStageContext ctx;
  ctx.inputs["features"] = FeatureMap{at::zeros({1, 8, 4, 4})};
  const std::string e = error_of([&] { csh->run(ctx); });
  CHECK(contains(e, "body_channels = 16"));
  CHECK(contains(e, "(1, 8, 4, 4)"));
  CHECK(contains(error_of([] {
                   ovseg::create_stage(catalog(), "chimera_body", {{"widths", std::vector<int64_t>{}}});
                 }),
                 "widths"));
  CHECK(contains(error_of([] {
                   chimera::selective_global_distillation(at::zeros({2, 4, 2, 2}), at::zeros({2, 3}), 1, "cosine", 1);
                 }),
                 "teacher"));
}

TEST_CASE("Body: output stride 2^stages, widths[-1] channels, gradients reach every tensor") {
  auto body = ovseg::create_stage(catalog(), "chimera_body",
                                  {{"widths", std::vector<int64_t>{8, 16, 24}}, {"blocks", int64_t{2}}});
  auto params = body->parameters();
  CHECK(params.size() == 3 * (3 + 2 * 2 * 3));
  for (auto& p : params) p.tensor.requires_grad_(true);
  MapStageContext ctx;
  ctx.inputs["image"] = Image{at::rand({2, 3, 40, 48})};
  body->run(ctx);
  const at::Tensor f = features_of(ctx);
  CHECK(f.sizes() == at::IntArrayRef({2, 24, 5, 6}));
  f.pow(2).mean().backward();
  for (auto& p : params) {
    CAPTURE(p.name);
    REQUIRE(p.tensor.grad().defined());
    CHECK(p.tensor.grad().abs().sum().item<double>() > 0);
  }
}
