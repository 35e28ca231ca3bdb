// The schnet plugin (SCHNet, arXiv 2503.22237): its parameters and weights
// layout, the zero-initialised SRM / FTM equal to plain SAM (the hook adds
// nothing until trained), flip test-time augmentation (mirrored logits
// flipped back with left/right channels exchanged), errors naming what is
// wrong, and `ovseg train` (2 steps) + `ovseg eval --weights` on a tiny
// people world in LIP's layout, with the shipped world SAM and world CLIP.
#include <ATen/core/grad_mode.h>
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "eval/eval_test_util.hpp"
#include "ovseg/host/map_stage_context.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/world/people.hpp"
#include "schnet_modules.hpp"

namespace {

namespace fs = std::filesystem;
using namespace ovseg;
using eval_test::catalog;
using eval_test::contains;
using eval_test::read_file;
using eval_test::run_cli;
using eval_test::TempDir;
using eval_test::write_file;

const std::string kSam = std::string(OVSEG_SOURCE_DIR) + "/host/models/embedded/world-sam.safetensors";
const std::string kClip = std::string(OVSEG_SOURCE_DIR) + "/host/models/embedded/world-clip.safetensors";
const std::vector<std::string> kParts = {"background", "left arm", "right arm", "face", "left leg", "right leg"};

std::map<std::string, ParamValue> params(std::map<std::string, ParamValue> extra = {}) {
  std::map<std::string, ParamValue> p = {{"sam_model", kSam},
                                         {"clip_model", kClip},
                                         {"class_names", kParts},
                                         {"ftm_tokens", int64_t(4)}};
  for (auto& [k, v] : extra) p[k] = v;
  return p;
}

at::Tensor run_stage(Stage& stage, const at::Tensor& img) {
  MapStageContext ctx("parser");
  ctx.inputs["image"] = Image{img};
  at::NoGradGuard no_grad;
  stage.run(ctx);
  return std::get<Logits>(ctx.outputs.at("logits")).logits;
}

// The stage's tensor (a handle on the very storage it runs: in-place edits reach it).
at::Tensor param(Stage& stage, const std::string& name) {
  for (auto& t : stage.parameters())
    if (t.name == name) return t.tensor;
  FAIL("no parameter " << name);
  return {};
}

at::Tensor test_image() {
  at::manual_seed(4);
  return at::rand({2, 3, 48, 64});
}

}  // namespace

TEST_CASE("schnet: ports, and the weights layout (SAM's official names under sam., srm.J, ftm, decoder)") {
  REQUIRE(catalog().plugins().count("schnet"));
  const PluginDescriptor& d = catalog().plugins().at("schnet").descriptor;
  CHECK(d.kind == StageKind::Fusion);
  REQUIRE(d.find_input("text") != nullptr);
  CHECK(d.find_input("text")->optional);

  auto stage = create_stage(catalog(), "schnet", params());
  std::map<std::string, NamedTensor> by_name;
  for (auto& t : stage->parameters()) by_name[t.name] = t;
  // World SAM: 4 blocks, global blocks 1 and 3 -> 2 injections; world CLIP has 2 blocks -> CLIP blocks 0 and 1.
  for (const char* k : {"sam.image_encoder.patch_embed.proj.weight", "sam.image_encoder.neck.0.weight",
                        "srm.0.norm.weight", "srm.0.proj.weight", "srm.1.proj.bias", "ftm.tokens.0", "ftm.tokens.3",
                        "ftm.mlp_token.weight", "ftm.mlp_delta.bias", "decoder.up0.weight", "decoder.norm.weight",
                        "decoder.up1.bias", "decoder.classifier.weight"})
    CHECK_MESSAGE(by_name.count(k), k);
  CHECK_FALSE(by_name.count("srm.2.proj.weight"));
  CHECK_FALSE(by_name.count("sam.mask_decoder.iou_token"));                            // only the encoder is SCHNet's
  CHECK(by_name.at("srm.0.proj.weight").tensor.sizes() == at::IntArrayRef{128, 128});  // CLIP width -> SAM width
  CHECK(by_name.at("ftm.tokens.2").tensor.sizes() == at::IntArrayRef{4, 128});
  CHECK(by_name.at("decoder.classifier.weight").tensor.sizes() == at::IntArrayRef{6, 32, 1, 1});
  // Partial fine-tuning: the neck trains by default, the blocks stay frozen.
  CHECK(by_name.at("sam.image_encoder.neck.0.weight").trainable);
  CHECK_FALSE(by_name.at("sam.image_encoder.blocks.0.attn.qkv.weight").trainable);
  CHECK(by_name.at("ftm.tokens.0").trainable);

  auto gated = create_stage(catalog(), "schnet",
                            params({{"srm_fusion", std::string("cross_attention")},
                                    {"srm_sam_blocks", std::vector<int64_t>{2}},
                                    {"srm_clip_blocks", std::vector<int64_t>{1}},
                                    {"ftm", false},
                                    {"sam_trainable", std::vector<std::string>{}}}));
  std::set<std::string> names;
  for (auto& t : gated->parameters()) {
    names.insert(t.name);
    if (t.name.rfind("sam.", 0) == 0) CHECK_FALSE(t.trainable);
  }
  CHECK(names.count("srm.0.q.weight"));
  CHECK(names.count("srm.0.out.bias"));
  CHECK_FALSE(names.count("srm.1.q.weight"));
  CHECK_FALSE(names.count("ftm.tokens.0"));
}

// conv2d written out as a sum over kernel taps (zero padding), to check the
// decoder's detail branch against an implementation that shares no code with it.
at::Tensor conv_by_hand(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, int64_t stride, int64_t pad) {
  const at::Tensor xp = at::constant_pad_nd(x, {pad, pad, pad, pad}, 0.0);
  const int64_t k = w.size(2), ho = (x.size(2) + 2 * pad - k) / stride + 1, wo = (x.size(3) + 2 * pad - k) / stride + 1;
  at::Tensor out = b.view({1, -1, 1, 1}).expand({x.size(0), w.size(0), ho, wo}).clone();
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j) {
      const at::Tensor tap = xp.narrow(2, i, (ho - 1) * stride + 1)
                                 .narrow(3, j, (wo - 1) * stride + 1)
                                 .slice(2, 0, c10::nullopt, stride)
                                 .slice(3, 0, c10::nullopt, stride);
      out += at::einsum("bchw,oc->bohw", {tap, w.select(3, j).select(2, i)});
    }
  return out;
}

TEST_CASE(
    "the decoder's detail branch: a strided conv on SAM's input pixels fused by a 3x3 conv before the classifier") {
  at::Generator gen = schnet::make_generator(3);
  schnet::Decoder plain, detail;
  plain.init(4, 4, 4, 3, false, gen);
  gen = schnet::make_generator(3);
  detail.init(4, 4, 4, 3, false, gen);
  detail.init_detail(2, 2, gen);  // stride 2: kernel 5, padding 2
  CHECK(detail.detail_w.sizes() == at::IntArrayRef{2, 3, 5, 5});
  CHECK(detail.fuse_w.sizes() == at::IntArrayRef{4, 6, 3, 3});
  std::vector<schnet::NamedParam> names;
  detail.named("decoder.", names);
  CHECK(names.size() == 12);
  CHECK(names[8].name == "decoder.detail.weight");
  CHECK(names[11].name == "decoder.fuse.bias");

  at::manual_seed(5);
  const at::Tensor neck = at::randn({1, 4, 2, 2}), pixels = at::randn({1, 3, 16, 16});
  // Without the branch the pixels are not read.
  CHECK(at::equal(plain(neck, {}, pixels), plain(neck, {}, at::zeros_like(pixels))));
  // The upscaled features x (8x8, the plain decoder before its classifier),
  // d = GELU(conv5x5/2(pixels)), y = GELU(conv3x3([x, d])), logits = 1x1(y).
  at::Tensor x = at::conv_transpose2d(neck, plain.up0_w, plain.up0_b, 2);
  x = at::gelu((x - x.mean(1, true)) / at::sqrt(x.var(1, false, true) + 1e-6));  // LayerNorm2d (unit affine at init)
  x = at::gelu(at::conv_transpose2d(x, plain.up1_w, plain.up1_b, 2));
  const at::Tensor d = at::gelu(conv_by_hand(pixels, detail.detail_w, detail.detail_b, 2, 2));
  REQUIRE(d.sizes() == at::IntArrayRef{1, 2, 8, 8});
  const at::Tensor y = at::gelu(conv_by_hand(at::cat({x, d}, 1), detail.fuse_w, detail.fuse_b, 1, 1));
  const at::Tensor expected = conv_by_hand(y, detail.cls_w, detail.cls_b, 1, 0);
  CHECK(at::allclose(detail(neck, {}, pixels), expected, 1e-5, 1e-6));
  CHECK(at::equal(detail.cls_w, plain.cls_w));  // the branch's draws come after the rest: same start otherwise
}

TEST_CASE("an untrained SRM and FTM add nothing: SCHNet equals the SAM-only parser until they learn") {
  const at::Tensor img = test_image();
  auto sam_only = create_stage(catalog(), "schnet", params({{"srm", false}, {"ftm", false}}));
  const at::Tensor plain = run_stage(*sam_only, img);
  CHECK(plain.sizes() == at::IntArrayRef{2, 6, 48, 64});
  for (const char* fusion : {"add", "gated", "cross_attention"}) {
    INFO("srm_fusion " << fusion);
    auto full = create_stage(catalog(), "schnet", params({{"srm_fusion", std::string(fusion)}}));
    CHECK(at::equal(run_stage(*full, img), plain));
    // Once the injection's output layer is non-zero the features change.
    const std::string out = std::string(fusion) == "cross_attention" ? "srm.1.out.weight" : "srm.1.proj.weight";
    if (std::string(fusion) == "gated")
      param(*full, "srm.1.gate").fill_(0.5);
    else
      param(*full, out).normal_(0.0, 0.05);
    CHECK_FALSE(at::allclose(run_stage(*full, img), plain));
  }
  auto ftm = create_stage(catalog(), "schnet", params({{"srm", false}}));
  CHECK(at::equal(run_stage(*ftm, img), plain));
  param(*ftm, "ftm.mlp_delta.weight").normal_(0.0, 0.05);
  CHECK_FALSE(at::allclose(run_stage(*ftm, img), plain));
}

TEST_CASE("flip TTA averages with the mirrored image's logits, flipped back with left/right channels exchanged") {
  const at::Tensor img = test_image();
  auto plain = create_stage(catalog(), "schnet", params());
  param(*plain, "srm.0.proj.weight").normal_(0.0, 0.05);  // a non-trivial parser
  const at::Tensor once = run_stage(*plain, img), mirrored = run_stage(*plain, img.flip({3}));
  CHECK_FALSE(at::allclose(once, mirrored.flip({3})));  // not mirror-symmetric by itself

  auto tta = create_stage(catalog(), "schnet", params({{"flip_tta", true}}));
  param(*tta, "srm.0.proj.weight").copy_(param(*plain, "srm.0.proj.weight"));
  // kParts: left/right arm (1, 2) and leg (4, 5) exchange; background and face stay.
  const at::Tensor back = mirrored.flip({3}).index_select(1, at::tensor({0, 2, 1, 3, 5, 4}, at::kLong));
  CHECK(at::allclose(run_stage(*tta, img), 0.5 * (once + back), 1e-5, 1e-6));

  // Explicit pairs replace the name rule.
  auto explicit_pairs = create_stage(catalog(), "schnet",
                                     params({{"flip_tta", true}, {"flip_pairs", std::vector<int64_t>{1, 2}}}));
  param(*explicit_pairs, "srm.0.proj.weight").copy_(param(*plain, "srm.0.proj.weight"));
  const at::Tensor arms_only = mirrored.flip({3}).index_select(1, at::tensor({0, 2, 1, 3, 4, 5}, at::kLong));
  CHECK(at::allclose(run_stage(*explicit_pairs, img), 0.5 * (once + arms_only), 1e-5, 1e-6));

  // While training there is no TTA.
  class Training : public MapStageContext {
   public:
    using MapStageContext::MapStageContext;
    bool training() const override { return true; }
  } ctx;
  ctx.inputs["image"] = Image{img};
  at::NoGradGuard no_grad;
  tta->run(ctx);
  CHECK(at::allclose(std::get<Logits>(ctx.outputs.at("logits")).logits, once, 1e-5, 1e-6));
}

TEST_CASE("schnet: bad settings and inputs are refused naming the parameter, the node or the shape") {
  CHECK_THROWS_WITH(create_stage(catalog(), "schnet",
                                 params({{"srm_sam_blocks", std::vector<int64_t>{1, 7}},
                                         {"srm_clip_blocks", std::vector<int64_t>{0, 1}}})),
                    doctest::Contains("srm_sam_blocks lists block 7"));
  CHECK_THROWS_WITH(create_stage(catalog(), "schnet", params({{"srm_clip_blocks", std::vector<int64_t>{0}}})),
                    doctest::Contains("differ in length"));
  CHECK_THROWS_WITH(create_stage(catalog(), "schnet", params({{"flip_pairs", std::vector<int64_t>{1}}})),
                    doctest::Contains("flip_pairs needs pairs"));
  CHECK_THROWS_WITH(create_stage(catalog(), "schnet", params({{"class_names", std::vector<std::string>{}}})),
                    doctest::Contains("no classes"));
  auto stage = create_stage(catalog(), "schnet", params());
  MapStageContext ctx("parser");
  ctx.inputs["image"] = Image{at::rand({1, 3, 32, 32})};
  ctx.inputs["text"] = TextEmbeddings{at::rand({3, 64}), {"a", "b", "c"}};
  CHECK_THROWS_WITH(stage->run(ctx), doctest::Contains("node 'parser' input 'text': 3 classes, the node parses 6"));
  ctx.inputs.erase("text");
  ctx.inputs["image"] = Image{at::rand({1, 32, 32})};
  CHECK_THROWS_WITH(stage->run(ctx), doctest::Contains("node 'parser' input 'image'"));
}

TEST_CASE("ovseg train: 2 SCHNet steps on a people world (LIP layout, flip_swap); eval --weights; a bad weights file") {
  TempDir dir;
  const std::string root = dir.file("people");
  world::write_people_split(root, "train", 4, 3, 64, 64);
  world::write_people_split(root, "val", 2, 3, 64, 64);
  const std::string pipeline = dir.file("schnet.toml");
  write_file(pipeline, R"([pipeline]
name = "schnet-test"
[protocol]
mode = "whole"
short_side = 64
[nodes.parser]
plugin = "schnet"
inputs = { image = "input.image" }
sam_model = ")" + kSam + R"("
clip_model = ")" + kClip + R"("
ftm_tokens = 4
[outputs]
logits = "parser.logits"
[train]
steps = 2
batch = 2
lr = 1e-3
val_images = 1
eval_every = 2
checkpoint_every = 2
[train.augment]
crop = 48
flip = true
)");
  const auto r = run_cli("train '" + pipeline + "' --dataset lip --data-root '" + root + "/lip' --out '" +
                         dir.file("run") + "' --quiet");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto run = nlohmann::json::parse(read_file(dir.file("run/run.json")));
  CHECK(run["frozen_parameters_unchanged"].get<bool>());
  std::set<std::string> trained;
  for (const auto& t : run["trainable"]) trained.insert(t["key"].get<std::string>());
  for (const char* k : {"parser.sam.image_encoder.neck.0.weight", "parser.srm.0.proj.weight", "parser.ftm.tokens.0",
                        "parser.ftm.mlp_token.weight", "parser.decoder.classifier.weight"})
    CHECK_MESSAGE(trained.count(k), k);
  CHECK_FALSE(trained.count("parser.sam.image_encoder.blocks.0.attn.qkv.weight"));
  const auto weights = models::load_safetensors(dir.file("run/weights.safetensors"));
  CHECK(weights.at("parser.decoder.classifier.weight").sizes() == at::IntArrayRef{20, 32, 1, 1});  // LIP's 20 classes
  CHECK(weights.at("parser.srm.0.proj.weight").abs().sum().item<double>() > 0);  // left its zero start

  const auto e = run_cli("eval '" + pipeline + "' --weights '" + dir.file("run/weights.safetensors") +
                         "' --dataset lip --data-root '" + root + "/lip' --split val --results '" + dir.file("res") +
                         "'");
  INFO(e.output);
  REQUIRE(e.exit_code == 0);
  nlohmann::json record;
  for (const auto& f : fs::directory_iterator(dir.file("res")))
    if (f.path().extension() == ".json") record = nlohmann::json::parse(read_file(f.path().string()));
  REQUIRE(record.contains("metrics"));
  CHECK(record["metrics"].contains("aAcc"));

  // A weights file whose tensor has another shape is refused naming the node and the key.
  models::StateDict bad = weights;
  bad["parser.decoder.classifier.weight"] = at::zeros({3, 32, 1, 1});
  models::save_safetensors(dir.file("bad.safetensors"), bad);
  const auto b = run_cli("eval '" + pipeline + "' --weights '" + dir.file("bad.safetensors") +
                         "' --dataset lip --data-root '" + root + "/lip' --split val --results '" + dir.file("res2") +
                         "'");
  CHECK(b.exit_code != 0);
  CHECK(contains(b.output, "decoder.classifier.weight"));
}
