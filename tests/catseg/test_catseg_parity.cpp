// Parity with the authors' code, cvlab-kaist/CAT-Seg (not in this
// repository). The fixtures in data/ hold numbers only: two images
// (100x136, which the authors' ImageList pads to 128x160 before the 384 px
// resize; larger than the 96x96 output, so sem_seg_postprocess's crop to
// the image size is the no-op it is on real images), two
// 64x64 training crops with labels (255 = void), and what the authors'
// modules computed on the random checkpoints random_catseg_state_dict()
// writes here in the released detectron2 layout:
//   - parity_<v>_scores: CATSeg.forward in eval mode (sliding_window off,
//     POOLING_SIZES [1,1] as eval.sh sets), one image at a time, i.e. the
//     sigmoid scores through sem_seg_postprocess at the image size;
//   - parity_<v>_train_logits: the head's output in training mode (pooling
//     [2,2]) on the crops, and parity_<v>_loss: the BCE loss
//     CATSeg.forward returns for them.
// Variants: "padded" (5 classes, pad_len 8: learnable padding tokens) and
// "truncated" (pad_len 3: the 3 best-correlated classes aggregated, the
// other two -100).
// How the fixtures were produced (the script is kept out of the repository
// because it imports the authors' code): test_catseg was run with
// OVSEG_CATSEG_PARITY_DIR=DIR, which keeps the random CLIP (DIR/parity_clip.pth)
// and checkpoints (DIR/parity_<v>.pth). A Python script (Debian's torch 1.13,
// einops 0.7 and ftfy in a venv) imported the authors' files unmodified --
// cat_seg/cat_seg_model.py (CATSeg), modeling/heads/cat_seg_head.py,
// modeling/transformer/{cat_seg_predictor,model}.py, third_party/{clip,
// model_vpt,simple_tokenizer}.py -- with stand-ins for what they import from
// detectron2 (configurable, registries, ImageList, sem_seg_postprocess),
// timm.layers (Mlp, DropPath, to_2tuple) and open_clip; clip.load returned
// their build_model() of parity_clip.pth; CATSeg's ViT-B/16 upsamplers
// (hard-coded 768 input channels) were replaced by ones of the random
// CLIP's width 128 before load_state_dict; the Aggregator's pad_len
// (not a config key; 256 in the released code) was set per variant. The
// checkpoint then loaded with load_state_dict(strict=True) and the
// classes came from a class JSON of the same 5 names. clip.load's fp16
// conversion was undone (.float()) because fp16 matmuls do not run on the
// CPU; the checkpoint then overwrites every weight in float32 anyway.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <unistd.h>

#include "catseg_test_util.hpp"
#include "ovseg/host/map_stage_context.hpp"
#include "ovseg/sdk/npy.hpp"
#include "ovseg/train/losses.hpp"

using namespace catseg_test;
namespace fs = std::filesystem;

namespace {

const std::string kData = OVSEG_SOURCE_DIR "/tests/catseg/data/";

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

// The random files, kept in OVSEG_CATSEG_PARITY_DIR when set (to make the fixtures).
struct ParityFiles {
  std::string dir;
  bool keep = false;
  ParityFiles() {
    const char* d = std::getenv("OVSEG_CATSEG_PARITY_DIR");
    keep = d && *d;
    dir = keep ? std::string(d) : (fs::temp_directory_path() / ("ovseg_catseg_" + std::to_string(::getpid()))).string();
    fs::create_directories(dir);
  }
  ~ParityFiles() {
    std::error_code ec;
    if (!keep) fs::remove_all(dir, ec);
  }
  std::string path(const std::string& name) const { return (fs::path(dir) / name).string(); }
};

}  // namespace

TEST_CASE("CAT-Seg: inference scores, training logits and the BCE loss equal the authors' code") {
  ParityFiles files;
  const std::string clip = files.path("parity_clip.pth");
  ovseg::models::save_state_dict_zip(clip, random_clip());
  const std::vector<Variant> variants = {padded_variant(), truncated_variant()};
  for (const Variant& v : variants)  // all written before any check
    save_detectron2_checkpoint(files.path("parity_" + v.name + ".pth"), random_catseg_state_dict(v, clip));
  for (const Variant& v : variants) {
    INFO("variant " << v.name);
    const std::string ckpt = files.path("parity_" + v.name + ".pth");
    REQUIRE_MESSAGE(fs::exists(kData + "parity_" + v.name + "_scores.npy"),
                    "fixtures missing: see the header of this file");
    auto stage = ovseg::create_stage(catalog(), "catseg", stage_params(v, clip, ckpt));

    // Inference: sigmoid scores at the image size (sem_seg_postprocess: bilinear).
    const at::Tensor image = ovseg::read_npy(kData + "parity_image.npy");
    at::Tensor scores = run(*stage, image, false);
    scores = at::upsample_bilinear2d(scores, {image.size(2), image.size(3)}, false);
    const at::Tensor want = ovseg::read_npy(kData + "parity_" + v.name + "_scores.npy");
    REQUIRE(scores.sizes() == want.sizes());
    const double rel = rel_diff(scores, want);
    MESSAGE(v.name << ": inference scores vs the authors' code, max |diff| / max |score| = " << rel);
    CHECK(rel <= 1e-5);

    // Training forward (pooling 2): the head's logits, then the loss.
    const at::Tensor crops = ovseg::read_npy(kData + "parity_crops.npy");
    const at::Tensor logits = run(*stage, crops, true);
    const at::Tensor want_logits = ovseg::read_npy(kData + "parity_" + v.name + "_train_logits.npy");
    REQUIRE(logits.sizes() == want_logits.sizes());
    const double rel_l = rel_diff(logits, want_logits);
    MESSAGE(v.name << ": training logits, max |diff| / max |logit| = " << rel_l);
    CHECK(rel_l <= 1e-5);
    const at::Tensor labels = ovseg::read_npy(kData + "parity_labels.npy").to(at::kLong);
    const at::Tensor up = at::upsample_bilinear2d(logits, {labels.size(1), labels.size(2)}, false);
    const double loss = ovseg::train::bce_one_hot_loss(up, labels, 255).item<double>();
    const double want_loss = ovseg::read_npy(kData + "parity_" + v.name + "_loss.npy").item<double>();
    INFO("BCE: ours " << loss << ", theirs " << want_loss);
    CHECK(std::abs(loss - want_loss) <= 1e-5 * std::abs(want_loss));
  }
}
