// Parity with the authors' code. The fixtures in data/ hold numbers only:
// the input images and prompts, and what facebookresearch/segment-anything
// (SamPredictor.set_image / predict / predict_torch, ResizeLongestSide) and
// ChaoningZhang/MobileSAM (TinyViT) computed for them, run once under
// Debian's torch 1.13 on the checkpoints this file rebuilds:
// make_random_sam_state_dict(preset, seed 2024) for the presets "vit_test"
// (ImageEncoderViT(depth 4, embed 64, heads 2, 256 px, window 6, global
// blocks 1 and 3, out_chans 64), PromptEncoder(64, (16,16), (256,256), 16),
// MaskDecoder(TwoWayTransformer(2, 64, mlp 128, 8 heads), iou hidden 64))
// "vit_1024_test" (the same at 1024 px: depth 3, window 14, block 2 global,
// PromptEncoder(64, (64,64), (1024,1024), 16)) and "tiny_vit_test" (TinyViT(embed_dims 16,32,48,320, depths 1,2,2,1,
// heads -,2,3,5, windows -,7,14,7, 1024 px, 10 classes) with the 256-wide
// prompt encoder and decoder of build_sam_vit_t). The reference loaded them
// with load_state_dict(strict=True), so the key layout is pinned too. The
// TinyViT model's large outputs are stored at every 4th row and column. To
// regenerate, run this test with OVSEG_SAM_PARITY_DIR=DIR and load
// DIR/parity_<preset>.pth in the reference code (call .eval() after loading:
// MobileSAM caches its attention-bias table in .eval(), see sam_tiny_vit.cpp).
#include <ovseg/models/sam_predictor.hpp>

#include "sam_test_util.hpp"

using namespace ovseg::models;
using sam_test::fixture;

namespace {

struct PromptCase {
  std::string name;
  int points;  // 0, 1 (the first fixture point) or 2
  bool box, mask, multimask;
};

const PromptCase kCases[] = {
    {"point_multi", 1, false, false, true},        // one click, 3 masks
    {"points_single", 2, false, false, false},     // foreground + background click
    {"box_single", 0, true, false, false},         // a box alone
    {"box_point_multi", 1, true, false, true},     // a box and a click
    {"mask_point_single", 1, false, true, false},  // a previous low-res mask and a click
};

// Every `step`-th row and column of the last two axes.
at::Tensor every(const at::Tensor& t, int64_t step) {
  return t.slice(-2, 0, t.size(-2), step).slice(-1, 0, t.size(-1), step);
}

// `all_cases` false: the one-click and box cases only, no batch.
void run_parity(const sam_test::ParityModel& m, const std::string& name, int64_t step, bool all_cases = true) {
  SamPredictor predictor(m.model);
  predictor.set_image(fixture("parity_image"));
  SAM_CHECK_CLOSE(every(predictor.features(), step), fixture(name + "_embeddings"), name + " image embeddings");

  const at::Tensor points = fixture("parity_points"), labels = fixture("parity_labels");
  const at::Tensor box = fixture("parity_box");
  // The mask prompt: the best low-res mask of a one-click prediction, fed
  // back as interactive use does (the reference made it the same way).
  const auto first = predictor.predict(points.slice(0, 0, 1), labels.slice(0, 0, 1), {}, {}, true);
  const at::Tensor mask = first.low_res_logits.select(0, first.iou_predictions.argmax().item<int64_t>()).unsqueeze(0);
  for (const PromptCase& c : kCases) {
    if (!all_cases && c.name != "point_multi" && c.name != "box_single") continue;
    CAPTURE(c.name);
    const auto r = predictor.predict(c.points ? points.slice(0, 0, c.points) : at::Tensor(),
                                     c.points ? labels.slice(0, 0, c.points) : at::Tensor(), c.box ? box : at::Tensor(),
                                     c.mask ? mask : at::Tensor(), c.multimask);
    const std::string id = name + "_" + c.name;
    SAM_CHECK_CLOSE(every(r.low_res_logits, step), fixture(id + "_low_res"), id + " low-res mask logits");
    SAM_CHECK_CLOSE(r.iou_predictions, fixture(id + "_iou"), id + " IoU predictions");
    const at::Tensor ref_masks = fixture(id + "_masks");
    SAM_CHECK_CLOSE(r.masks, ref_masks, id + " mask logits at the image size");
    // Binary masks (mask_threshold 0): identical but for pixels whose logit is
    // within rounding of the threshold.
    const at::Tensor differ = (r.masks > 0) != (ref_masks > 0);
    CHECK(at::logical_and(differ, ref_masks.abs() > 1e-4).sum().item<int64_t>() == 0);
  }

  if (!all_cases) return;
  // predict_torch with a batch of 3 prompts of 2 points each, already in the
  // input frame (what the pipeline stage and the automatic generator run).
  const auto r = predictor.predict_torch(fixture("parity_batch_points").to(at::kFloat),
                                         fixture("parity_batch_labels").to(at::kInt), at::Tensor(), at::Tensor(), true);
  SAM_CHECK_CLOSE(every(r.low_res_logits, step), fixture(name + "_batch_multi_low_res"),
                  name + " batch low-res mask logits");
  SAM_CHECK_CLOSE(r.iou_predictions, fixture(name + "_batch_multi_iou"), name + " batch IoU predictions");
}

}  // namespace

TEST_CASE(
    "parity with segment_anything's SamPredictor: ViT encoder, prompt encoder, mask decoder, pre/post-processing") {
  run_parity(sam_test::vit_test_model(), "vit_test", 1);
}

TEST_CASE("parity with segment_anything at SAM's 1024-px encoder geometry (window 14 over 64x64, global attention)") {
  run_parity(sam_test::vit_1024_test_model(), "vit_1024_test", 4, /*all_cases=*/false);
}

TEST_CASE("parity with MobileSAM: TinyViT encoder with the 256-wide prompt encoder and decoder") {
  run_parity(sam_test::tiny_vit_test_model(), "tiny_vit_test", 4);
}

TEST_CASE("ResizeLongestSide.apply_image: Pillow's bilinear resize of the predictor, byte for byte") {
  // Up-scaling 96x128 -> 192x256 (and to 768x1024 in the TinyViT parity
  // above), down-scaling 257x385 -> 171x256 (filter support > 1: five taps)
  // of a noise-like image given by a formula (the reference used the same).
  const at::Tensor small = fixture("parity_image");
  const at::Tensor ly = at::arange(257, at::kLong).view({257, 1, 1}), lx = at::arange(385, at::kLong).view({1, 385, 1});
  const at::Tensor lc = at::arange(3, at::kLong).view({1, 1, 3});
  const at::Tensor large = ((lx * lx * 31 + ly * lx * 17 + ly * ly * 7 + lc * 101) % 256).to(at::kByte);
  for (const auto& [image, ref] :
       {std::pair{small, "parity_resized_256"}, std::pair{large, "parity_large_resized_256"}}) {
    CAPTURE(std::string(ref));
    const auto [h, w] = sam_preprocess_shape(image.size(0), image.size(1), 256);
    const at::Tensor ours = sam_resize_uint8(image, h, w);
    const at::Tensor theirs = fixture(ref);
    REQUIRE(ours.sizes() == theirs.sizes());
    CHECK(at::equal(ours, theirs));
  }
}

TEST_CASE("ResizeLongestSide.get_preprocess_shape rounds as the reference") {
  CHECK(sam_preprocess_shape(96, 128, 256) == std::pair<int64_t, int64_t>{192, 256});
  CHECK(sam_preprocess_shape(257, 385, 256) == std::pair<int64_t, int64_t>{171, 256});  // 170.89 -> 171
  CHECK(sam_preprocess_shape(480, 640, 1024) == std::pair<int64_t, int64_t>{768, 1024});
  CHECK(sam_preprocess_shape(1000, 333, 1024) == std::pair<int64_t, int64_t>{1024, 341});  // 340.99 -> 341
  CHECK(sam_preprocess_shape(7, 7, 1024) == std::pair<int64_t, int64_t>{1024, 1024});
}
