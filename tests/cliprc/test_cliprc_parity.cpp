// Parity with the authors' code, uyzhang/CLIP-RC (not in this repository).
// The fixtures in data/ hold numbers only: an image batch, 5 class text
// embeddings and labels, and what the authors' modules computed for them on
// the random checkpoints random_cliprc_state_dict() writes here, in the
// released layout:
//   - *_calibrated: CLIPRC.encode_decode's output (backbone, decode head,
//     sigmoid, seen classes - 0.1) over all 5 classes;
//   - *_masks: the decode head's training forward (pred_masks, dropout off)
//     on the 3 seen classes' text;
//   - *_losses: SegLoss on those with every weight 1: focal, dice, recovery
//     q, recovery k.
// Variants: "deep" (5 deep prompts, 4x4 regions) and "shallow" (5 shallow
// prompts, 2x2 regions).
// How the fixtures were produced (the script is kept out of the repository
// because it imports the authors' code): test_cliprc was run with
// OVSEG_CLIPRC_PARITY_DIR=DIR, which keeps the random checkpoints as
// DIR/parity_<variant>.pth. A Python script (Debian's torch 1.13) then
// imported the authors' files unmodified -- models/backbone/img_encoder_rlb.py
// (CLIPVisionTransformerWithRLB), models/decode_heads/decode_seg.py
// (ATMSingleHeadSeg), their utils.py and models/losses/ -- with small
// stand-ins for the mmseg / mmcv / timm names they import (registries,
// BaseDecodeHead's attributes, force_fp32, timm's trunc_normal_ and
// drop_path), loaded each checkpoint with the variant's config, drew the
// image, text embeddings and labels from a fixed seed, ran the modules in
// eval mode (and the head's training forward with dropout 0), and saved
// inputs and outputs as .npy.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <unistd.h>

#include "cliprc_test_util.hpp"
#include "ovseg/host/executor.hpp"
#include "ovseg/host/graph.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/sdk/npy.hpp"
#include "ovseg/train/losses.hpp"

using namespace cliprc_test;
namespace fs = std::filesystem;

namespace {

const std::string kData = OVSEG_SOURCE_DIR "/tests/cliprc/data/";

struct ParityCheckpoint {
  std::string path;
  bool keep = false;
  explicit ParityCheckpoint(const Variant& v) {
    const char* dir = std::getenv("OVSEG_CLIPRC_PARITY_DIR");
    keep = dir && *dir;
    path = keep ? (fs::path(dir) / ("parity_" + v.name + ".pth")).string()
                : (fs::temp_directory_path() / ("ovseg_cliprc_" + v.name + "_" + std::to_string(::getpid()) + ".pth"))
                      .string();
    ovseg::models::save_state_dict_zip(path, random_cliprc_state_dict(v));
  }
  ~ParityCheckpoint() {
    std::error_code ec;
    if (!keep) fs::remove(path, ec);
  }
};

ovseg::Graph graph(const std::string& toml) {
  return ovseg::build_graph(ovseg::parse_pipeline_spec(toml, "parity.toml"), catalog());
}

}  // namespace

TEST_CASE("CLIP-RC: calibrated scores, mask logits and losses equal the authors' code") {
  const std::vector<Variant> variants = {deep_variant(), shallow_variant()};
  std::vector<std::unique_ptr<ParityCheckpoint>> checkpoints;  // all written before any check
  for (const Variant& v : variants) checkpoints.push_back(std::make_unique<ParityCheckpoint>(v));
  for (size_t i = 0; i < variants.size(); ++i) {
    const Variant& v = variants[i];
    const ParityCheckpoint& ckpt = *checkpoints[i];
    INFO("variant " << v.name);
    REQUIRE_MESSAGE(fs::exists(kData + "parity_" + v.name + "_calibrated.npy"),
                    "fixtures missing: see the header of this file");
    const at::Tensor image = ovseg::read_npy(kData + "parity_image.npy");

    // Inference: all five classes, a, b, c seen.
    {
      const std::string toml = cliprc_nodes(v, ckpt.path, kData + "parity_text.npy", {"a", "b", "c", "d", "e"}) +
                               "[nodes.calib]\nplugin = \"seen_calibration\"\ninputs = { logits = \"up.logits\" }\n"
                               "seen_classes = [\"a\", \"b\", \"c\"]\n[outputs]\nlogits = \"calib.logits\"\n";
      const ovseg::Graph g = graph(toml);
      ovseg::Executor ex(g, "cpu");
      const at::Tensor ours = ex.run(ovseg::Image{image}).logits.logits;
      const at::Tensor theirs = ovseg::read_npy(kData + "parity_" + v.name + "_calibrated.npy");
      REQUIRE(ours.sizes() == theirs.sizes());
      const double rel = rel_diff(ours, theirs);
      MESSAGE(v.name << ": calibrated scores vs the authors' code, max |diff| / max |score| = " << rel);
      CHECK(rel <= 3e-6);  // measured <= 9.6e-7 (README "Exactness")
    }

    // Training forward on the seen classes (dropout off): mask logits, and
    // the loss terms on the labels with unseen classes ignored.
    {
      fs::path text3 = fs::temp_directory_path() / ("ovseg_cliprc_text3_" + std::to_string(::getpid()) + ".npy");
      ovseg::write_npy(text3.string(), ovseg::read_npy(kData + "parity_text.npy").narrow(0, 0, 3).contiguous());
      const std::string toml = cliprc_nodes(v, ckpt.path, text3.string(), {"a", "b", "c"}, "prompt_dropout = 0.0\n",
                                            "dropout = 0.0\n");
      const ovseg::Graph g = graph(toml);
      ovseg::Executor ex(g, "cpu");
      ex.set_training(true);
      const auto values = ex.run_nodes(ovseg::Image{image}, std::vector<bool>(g.nodes.size(), true), {});
      fs::remove(text3);
      const at::Tensor masks = std::get<ovseg::Logits>(values.at("up.logits")).logits.detach();
      const at::Tensor theirs = ovseg::read_npy(kData + "parity_" + v.name + "_masks.npy");
      REQUIRE(masks.sizes() == theirs.sizes());
      const double rel = rel_diff(masks, theirs);
      MESSAGE(v.name << ": training mask logits, max |diff| / max |logit| = " << rel);
      CHECK(rel <= 3e-6);  // measured <= 9.6e-7 (README "Exactness")

      at::Tensor target = ovseg::read_npy(kData + "parity_labels.npy");
      target = target.masked_fill(target >= 3, 255);  // d, e unseen; 255 stays void
      const at::Tensor terms = ovseg::read_npy(kData + "parity_" + v.name + "_losses.npy");
      const double ours[] = {ovseg::train::mask_focal_loss(masks, target, 255).item<double>(),
                             ovseg::train::mask_dice_loss(masks, target, 255).item<double>(),
                             ex.aux_losses().at("head.recovery_q").item<double>(),
                             ex.aux_losses().at("head.recovery_k").item<double>()};
      const char* names[] = {"focal", "dice", "recovery q", "recovery k"};
      for (int i = 0; i < 4; ++i) {
        const double want = terms[i].item<double>();
        INFO(names[i] << ": ours " << ours[i] << ", theirs " << want);
        CHECK(std::abs(ours[i] - want) <= 1e-5 * std::abs(want));
      }
    }
  }
}
