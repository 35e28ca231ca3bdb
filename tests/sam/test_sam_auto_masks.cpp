// The automatic mask generator's steps against segment_anything/utils/amg.py
// and torchvision.ops.batched_nms, run once by the reference on synthetic
// inputs (data/amg_*.npy: 12 blobby 40x56 logit maps, one empty; scores with
// a tie; numbers only): stability score, mask boxes, NMS, small holes and
// islands (area 25), point grids, crop boxes (480x640, 2 layers).
#include <ovseg/models/sam_auto_masks.hpp>

#include "sam_test_util.hpp"

using namespace ovseg::models;
using sam_test::fixture;

TEST_CASE("calculate_stability_score and batched_mask_to_box as amg.py") {
  const at::Tensor logits = fixture("amg_logits");
  CHECK(at::equal(sam_stability_score(logits, 0.0, 1.0).isnan(), fixture("amg_stability").isnan()));
  CHECK(at::allclose(sam_stability_score(logits, 0.0, 1.0).nan_to_num(-1), fixture("amg_stability").nan_to_num(-1), 0, 0));
  CHECK(at::equal(sam_masks_to_boxes(logits > 0), fixture("amg_boxes")));
  CHECK(at::equal(sam_masks_to_boxes(logits > 0)[3], at::zeros({4}, at::kLong)));  // the empty mask
}

TEST_CASE("box NMS as torchvision's batched_nms (ties keep their order)") {
  const at::Tensor boxes = fixture("amg_boxes").to(at::kFloat), scores = fixture("amg_scores");
  for (const char* thr : {"0.3", "0.7"}) {
    CAPTURE(std::string(thr));
    CHECK(at::equal(sam_box_nms(boxes, scores, std::stod(thr)), fixture(std::string("amg_nms_") + thr)));
  }
  // Ties: equal scores keep the input order, as the reference's stable sort.
  const at::Tensor far = at::tensor({0.f, 0.f, 1.f, 1.f, 10.f, 10.f, 11.f, 11.f, 20.f, 20.f, 21.f, 21.f}).view({3, 4});
  CHECK(at::equal(sam_box_nms(far, at::ones({3}), 0.5), at::tensor({int64_t(0), int64_t(1), int64_t(2)})));
}

TEST_CASE("remove_small_regions: holes and islands as amg.py (cv2 8-connectivity)") {
  const at::Tensor masks = fixture("amg_logits") > 0;
  const at::Tensor ref = fixture("amg_small_regions");  // [mask][holes, islands]: 40*56 mask bytes, then changed
  int changed_cases = 0;
  for (int64_t i = 0; i < masks.size(0); ++i)
    for (int mode = 0; mode < 2; ++mode) {
      CAPTURE(i);
      CAPTURE(mode);
      bool changed = false;
      const at::Tensor ours = sam_remove_small_regions(masks[i], 25, mode == 0, &changed);
      CHECK(changed == (ref[i][mode][40 * 56].item<int64_t>() != 0));
      CHECK(at::equal(ours.flatten().to(at::kByte), ref[i][mode].slice(0, 0, 40 * 56).to(at::kByte)));
      changed_cases += changed;
    }
  CHECK(changed_cases > 4);  // the fixture exercises both outcomes
}

TEST_CASE("point grids and crop boxes as amg.py") {
  CHECK(at::equal(sam_point_grid(5), fixture("amg_grid_5")));
  CHECK(at::equal(sam_point_grid(32), fixture("amg_grid_32")));
  std::vector<int64_t> layers;
  const auto crops = sam_crop_boxes(480, 640, 2, 512.0 / 1500.0, &layers);
  const at::Tensor ref = fixture("amg_crops"), ref_layers = fixture("amg_crop_layers");
  REQUIRE(static_cast<int64_t>(crops.size()) == ref.size(0));
  for (size_t i = 0; i < crops.size(); ++i) {
    for (int k = 0; k < 4; ++k) CHECK(crops[i][k] == ref[i][k].item<int64_t>());
    CHECK(layers[i] == ref_layers[i].item<int64_t>());
  }
}
