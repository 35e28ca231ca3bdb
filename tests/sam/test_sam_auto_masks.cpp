// The automatic mask generator against segment_anything: its steps against
// utils/amg.py and torchvision.ops.batched_nms, run once by the reference on
// synthetic inputs (data/amg_*.npy: 12 blobby 40x56 logit maps, one empty;
// scores with a tie; numbers only): stability score, mask boxes, NMS, small
// holes and islands (area 25), point grids, crop boxes (480x640, 2 layers);
// and the whole generator on the embedded world SAM (below).
#include <ovseg/models/model_zoo.hpp>
#include <ovseg/models/sam_auto_masks.hpp>

#include "sam_test_util.hpp"

using namespace ovseg::models;
using sam_test::fixture;
namespace fs = std::filesystem;

TEST_CASE("calculate_stability_score and batched_mask_to_box as amg.py") {
  const at::Tensor logits = fixture("amg_logits");
  CHECK(at::equal(sam_stability_score(logits, 0.0, 1.0).isnan(), fixture("amg_stability").isnan()));
  CHECK(at::allclose(sam_stability_score(logits, 0.0, 1.0).nan_to_num(-1), fixture("amg_stability").nan_to_num(-1), 0,
                     0));
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

namespace {

// Bits packed along the last axis (numpy.packbits), (N,H,ceil(W/8)) -> (N,H,W) bool.
at::Tensor unpack_bits(const at::Tensor& packed, int64_t width) {
  const at::Tensor shifts = at::arange(7, -1, -1, at::kByte);
  const at::Tensor bits = packed.unsqueeze(-1).bitwise_right_shift(shifts).bitwise_and(1);
  return bits.flatten(-2).narrow(-1, 0, width).to(at::kBool);
}

// The embedded world SAM as the reference ran it: a float32 .pth of the
// fp16 file's values, kept in OVSEG_SAM_PARITY_DIR when that is set.
std::shared_ptr<SamModel> world_sam() {
  static std::shared_ptr<SamModel> m = [] {
    auto model = SamModel::load(resolve_model_file("ovseg:world-sam"));
    if (const char* dir = std::getenv("OVSEG_SAM_PARITY_DIR"); dir && *dir)
      save_state_dict_zip((fs::path(dir) / "parity_world_sam.pth").string(), model->state_dict());
    return model;
  }();
  return m;
}

void check_generator(const std::string& name, const SamAutoMaskOptions& o) {
  const at::Tensor image = fixture("amg_world_image");
  const auto records = sam_generate_masks(world_sam(), image, o);
  const at::Tensor masks = unpack_bits(fixture("amg_" + name + "_masks"), image.size(1));
  const at::Tensor boxes = fixture("amg_" + name + "_bbox"), iou = fixture("amg_" + name + "_iou");
  const at::Tensor stability = fixture("amg_" + name + "_stability"), points = fixture("amg_" + name + "_points");
  const at::Tensor crops = fixture("amg_" + name + "_crop_boxes");
  MESSAGE(name << ": " << records.size() << " masks (reference: " << masks.size(0) << ")");
  REQUIRE(static_cast<int64_t>(records.size()) == masks.size(0));
  REQUIRE(!records.empty());
  for (size_t i = 0; i < records.size(); ++i) {
    CAPTURE(i);
    const auto& r = records[i];
    const int64_t k = static_cast<int64_t>(i);
    CHECK(at::equal(r.segmentation, masks[k]));
    CHECK(r.area == masks[k].sum().item<int64_t>());
    for (int j = 0; j < 4; ++j) {
      CHECK(r.bbox[j] == boxes[k][j].item<double>());
      CHECK(r.crop_box[j] == crops[k][j].item<int64_t>());
    }
    CHECK(r.predicted_iou == doctest::Approx(iou[k].item<double>()).epsilon(1e-5));
    CHECK(r.stability_score == doctest::Approx(stability[k].item<double>()).epsilon(1e-5));
    CHECK(r.point[0] == points[k][0].item<double>());
    CHECK(r.point[1] == points[k][1].item<double>());
    CHECK(at::equal(r.logits > 0, r.segmentation));  // the logits carried along agree with the mask
  }
}

}  // namespace

// SamAutomaticMaskGenerator(sam, ...).generate(image) run by the reference on
// the embedded world SAM and a world scene (data/amg_world_image.npy; results
// in data/amg_{grid,crops}_*.npy, masks as packed bits): a 32x32 grid with
// the thresholds lowered to what the small model's scores reach (predicted
// IoU 0.7, stability 0.8; SAM's 0.88 / 0.95 keep none of its masks), and a
// 16x16 grid with one crop layer and min_mask_region_area 20 (0.6 / 0.7).
// Regenerate these fixtures whenever the world SAM is retrained (run this
// test with OVSEG_SAM_PARITY_DIR=DIR, load DIR/parity_world_sam.pth).
TEST_CASE("the automatic mask generator end to end as SamAutomaticMaskGenerator: a 32x32 grid") {
  SamAutoMaskOptions o;
  o.pred_iou_thresh = 0.7;
  o.stability_score_thresh = 0.8;
  check_generator("grid", o);
}

TEST_CASE("the automatic mask generator end to end: crop layer and small-region removal") {
  SamAutoMaskOptions o;
  o.points_per_side = 16;
  o.pred_iou_thresh = 0.6;
  o.stability_score_thresh = 0.7;
  o.crop_n_layers = 1;
  o.min_mask_region_area = 20;
  check_generator("crops", o);
}
