// SAM's automatic mask generator (see sam_auto_masks.hpp), following
// segment_anything/automatic_mask_generator.py step by step; the helpers
// mirror utils/amg.py and torchvision.ops.nms. Masks are kept as boolean
// tensors instead of the reference's run-length encodings (same content).
#include <ovseg/models/sam_auto_masks.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace ovseg::models {

at::Tensor sam_point_grid(int64_t n) {
  if (n < 1) throw std::invalid_argument("SAM point grid: points per side must be >= 1, got " + std::to_string(n));
  // np.linspace(offset, 1 - offset, n): i * step + start, the last one = stop.
  const double offset = 1.0 / (2 * n), start = offset, stop = 1 - offset;
  std::vector<double> p(static_cast<size_t>(n));
  const double step = n > 1 ? (stop - start) / static_cast<double>(n - 1) : 0.0;
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<double>(i) * step + start;
  if (n > 1) p[n - 1] = stop;
  at::Tensor grid = at::empty({n * n, 2}, at::kDouble);
  auto a = grid.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      a[i * n + j][0] = p[j];  // x
      a[i * n + j][1] = p[i];  // y
    }
  return grid;
}

std::vector<std::array<int64_t, 4>> sam_crop_boxes(int64_t h, int64_t w, int64_t n_layers, double overlap_ratio,
                                                   std::vector<int64_t>* layer_idxs) {
  std::vector<std::array<int64_t, 4>> boxes{{0, 0, w, h}};
  std::vector<int64_t> layers{0};
  const int64_t short_side = std::min(h, w);
  auto crop_len = [](int64_t orig, int64_t n_crops, int64_t overlap) {
    return static_cast<int64_t>(std::ceil(static_cast<double>(overlap * (n_crops - 1) + orig) / n_crops));
  };
  for (int64_t layer = 0; layer < n_layers; ++layer) {
    const int64_t n = int64_t(1) << (layer + 1);
    const auto overlap = static_cast<int64_t>(overlap_ratio * short_side * (2.0 / n));
    const int64_t cw = crop_len(w, n, overlap), ch = crop_len(h, n, overlap);
    for (int64_t i = 0; i < n; ++i)  // itertools.product(x0s, y0s): x outer
      for (int64_t j = 0; j < n; ++j) {
        const int64_t x0 = (cw - overlap) * i, y0 = (ch - overlap) * j;
        boxes.push_back({x0, y0, std::min(x0 + cw, w), std::min(y0 + ch, h)});
        layers.push_back(layer + 1);
      }
  }
  if (layer_idxs) *layer_idxs = layers;
  return boxes;
}

at::Tensor sam_stability_score(const at::Tensor& logits, double mask_threshold, double offset) {
  const at::Tensor inter = (logits > (mask_threshold + offset)).sum({-1, -2});
  const at::Tensor uni = (logits > (mask_threshold - offset)).sum({-1, -2});
  return inter.to(at::kFloat) / uni.to(at::kFloat);  // int / int -> float32 true division
}

at::Tensor sam_masks_to_boxes(const at::Tensor& masks) {
  TORCH_CHECK(masks.dim() == 3, "sam_masks_to_boxes: expected (N,H,W) masks, got ", masks.sizes());
  const int64_t H = masks.size(1), W = masks.size(2);
  if (masks.numel() == 0) return at::zeros({masks.size(0), 4}, at::kLong);
  const auto li = at::TensorOptions().dtype(at::kLong).device(masks.device());
  const at::Tensor in_h = std::get<0>(masks.max(-1));  // rows holding a pixel
  const at::Tensor hc = in_h.to(at::kLong) * at::arange(H, li).unsqueeze(0);
  const at::Tensor bottom = std::get<0>(hc.max(-1));
  const at::Tensor top = std::get<0>((hc + H * (~in_h).to(at::kLong)).min(-1));
  const at::Tensor in_w = std::get<0>(masks.max(-2));
  const at::Tensor wc = in_w.to(at::kLong) * at::arange(W, li).unsqueeze(0);
  const at::Tensor right = std::get<0>(wc.max(-1));
  const at::Tensor left = std::get<0>((wc + W * (~in_w).to(at::kLong)).min(-1));
  const at::Tensor empty = (right < left) | (bottom < top);
  return at::stack({left, top, right, bottom}, -1) * (~empty).unsqueeze(-1).to(at::kLong);
}

at::Tensor sam_box_nms(const at::Tensor& boxes_in, const at::Tensor& scores_in, double iou_threshold) {
  // torchvision/csrc/ops/cpu/nms_kernel.cpp on float boxes; ties keep their order.
  const at::Tensor boxes = boxes_in.to(at::kCPU, at::kFloat).contiguous();
  const at::Tensor scores = scores_in.to(at::kCPU, at::kFloat).contiguous();
  const int64_t n = boxes.size(0);
  if (n == 0) return at::empty({0}, at::kLong);
  const at::Tensor order = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  const auto b = boxes.accessor<float, 2>();
  const auto o = order.accessor<int64_t, 1>();
  std::vector<float> area(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) area[i] = (b[i][2] - b[i][0]) * (b[i][3] - b[i][1]);
  std::vector<char> suppressed(static_cast<size_t>(n), 0);
  std::vector<int64_t> keep;
  for (int64_t oi = 0; oi < n; ++oi) {
    const int64_t i = o[oi];
    if (suppressed[i]) continue;
    keep.push_back(i);
    for (int64_t oj = oi + 1; oj < n; ++oj) {
      const int64_t j = o[oj];
      if (suppressed[j]) continue;
      const float xx1 = std::max(b[i][0], b[j][0]), yy1 = std::max(b[i][1], b[j][1]);
      const float xx2 = std::min(b[i][2], b[j][2]), yy2 = std::min(b[i][3], b[j][3]);
      const float inter = std::max(0.f, xx2 - xx1) * std::max(0.f, yy2 - yy1);
      const float ovr = inter / (area[i] + area[j] - inter);
      if (ovr > iou_threshold) suppressed[j] = 1;
    }
  }
  return at::tensor(keep, at::kLong);
}

namespace {

// 8-connected components of a (H,W) byte mask: labels (0 = background),
// and each label's pixel count (index 0 = background).
std::vector<int32_t> label_components(const uint8_t* m, int64_t H, int64_t W, std::vector<int64_t>* sizes) {
  std::vector<int32_t> labels(static_cast<size_t>(H * W), 0);
  sizes->assign(1, 0);
  std::vector<int64_t> stack;
  for (int64_t start = 0; start < H * W; ++start) {
    if (!m[start] || labels[start]) continue;
    const int32_t id = static_cast<int32_t>(sizes->size());
    sizes->push_back(0);
    labels[start] = id;
    stack.push_back(start);
    while (!stack.empty()) {
      const int64_t p = stack.back();
      stack.pop_back();
      ++(*sizes)[id];
      const int64_t y = p / W, x = p % W;
      for (int64_t dy = -1; dy <= 1; ++dy)
        for (int64_t dx = -1; dx <= 1; ++dx) {
          const int64_t yy = y + dy, xx = x + dx;
          if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
          const int64_t q = yy * W + xx;
          if (m[q] && !labels[q]) {
            labels[q] = id;
            stack.push_back(q);
          }
        }
    }
  }
  int64_t bg = 0;
  for (int64_t p = 0; p < H * W; ++p) bg += !m[p];
  (*sizes)[0] = bg;
  return labels;
}

}  // namespace

at::Tensor sam_remove_small_regions(const at::Tensor& mask, double area_thresh, bool holes, bool* changed) {
  TORCH_CHECK(mask.dim() == 2, "sam_remove_small_regions: expected an (H,W) mask, got ", mask.sizes());
  const at::Tensor m = mask.to(at::kCPU, at::kBool).contiguous();
  const int64_t H = m.size(0), W = m.size(1);
  // working_mask = (correct_holes ^ mask): holes are components of the background.
  const at::Tensor working = (holes ? ~m : m).to(at::kByte).contiguous();
  std::vector<int64_t> sizes;
  const std::vector<int32_t> labels = label_components(working.data_ptr<uint8_t>(), H, W, &sizes);
  std::vector<char> small(sizes.size(), 0);
  bool any_small = false;
  for (size_t i = 1; i < sizes.size(); ++i)
    if (static_cast<double>(sizes[i]) < area_thresh) small[i] = 1, any_small = true;
  if (changed) *changed = any_small;
  if (!any_small) return mask;
  std::vector<char> fill(sizes.size(), 0);  // labels that make up the new mask
  if (holes) {
    fill[0] = 1;  // the mask itself, plus the small background regions
    for (size_t i = 1; i < sizes.size(); ++i) fill[i] = small[i];
  } else {
    bool any = false;
    for (size_t i = 1; i < sizes.size(); ++i) fill[i] = !small[i], any = any || fill[i];
    if (!any) {  // every island is small: keep the largest
      const auto largest = std::max_element(sizes.begin() + 1, sizes.end()) - sizes.begin();
      fill[largest] = 1;
    }
  }
  at::Tensor out = at::empty({H, W}, at::kBool);
  bool* o = out.data_ptr<bool>();
  for (int64_t p = 0; p < H * W; ++p) o[p] = fill[labels[p]] != 0;
  return out.to(mask.device());
}

namespace {

// A mask that passed the filters, in its crop's frame until uncropped.
struct Candidate {
  at::Tensor mask;     // (crop h, crop w) bool
  at::Tensor low_res;  // (4g, 4g) logits, to recompute the full logits of kept masks
  double iou = 0, stability = 0;
  std::array<int64_t, 4> box{};  // x0, y0, x1, y1
  std::array<double, 2> point{};
  size_t crop = 0;
};

at::Tensor boxes_tensor(const std::vector<Candidate>& c) {
  at::Tensor t = at::empty({static_cast<int64_t>(c.size()), 4}, at::kLong);
  auto a = t.accessor<int64_t, 2>();
  for (size_t i = 0; i < c.size(); ++i)
    for (int k = 0; k < 4; ++k) a[i][k] = c[i].box[k];
  return t;
}

std::vector<Candidate> select(std::vector<Candidate>& c, const at::Tensor& keep) {
  std::vector<Candidate> out;
  const auto k = keep.accessor<int64_t, 1>();
  for (int64_t i = 0; i < keep.size(0); ++i) out.push_back(std::move(c[k[i]]));
  return out;
}

// _process_batch: the masks of one batch of grid points in one crop.
void process_batch(const SamPredictor& predictor, const at::Tensor& points, const std::array<int64_t, 4>& crop,
                   int64_t orig_h, int64_t orig_w, size_t crop_index, const SamAutoMaskOptions& o,
                   std::vector<Candidate>& out) {
  const int64_t n = points.size(0);
  // apply_coords in float64; the prompt encoder receives the float64 points.
  const at::Tensor transformed = sam_apply_coords(points, predictor.frame(), at::kDouble);
  const at::Tensor labels = at::ones({n, 1}, at::kInt);
  const SamPredictor::Result r = predictor.predict_torch(transformed.unsqueeze(1), labels, at::Tensor(), at::Tensor(),
                                                         /*multimask=*/true);
  const int64_t m = r.masks.size(1);
  at::Tensor masks = r.masks.flatten(0, 1).to(at::kCPU);          // (n*3, h, w) logits
  at::Tensor iou = r.iou_predictions.flatten(0, 1).to(at::kCPU);  // (n*3)
  at::Tensor low = r.low_res_logits.flatten(0, 1).to(at::kCPU);
  at::Tensor pts = points.repeat_interleave(m, 0);  // np.repeat(points, 3, axis=0)
  auto filter = [&](const at::Tensor& keep_mask) {
    const at::Tensor idx = keep_mask.nonzero().squeeze(1);
    masks = masks.index_select(0, idx);
    iou = iou.index_select(0, idx);
    low = low.index_select(0, idx);
    pts = pts.index_select(0, idx);
    return idx;
  };
  if (o.pred_iou_thresh > 0.0) filter(iou > o.pred_iou_thresh);
  at::Tensor stability = sam_stability_score(masks, kSamMaskThreshold, o.stability_score_offset);
  if (o.stability_score_thresh > 0.0)
    stability = stability.index_select(0, filter(stability >= o.stability_score_thresh));
  const at::Tensor binary = masks > kSamMaskThreshold;
  at::Tensor boxes = sam_masks_to_boxes(binary);
  // is_box_near_crop_edge: within 20 px of the crop's border but not the image's.
  const at::Tensor un = (boxes + at::tensor({crop[0], crop[1], crop[0], crop[1]}, at::kLong)).to(at::kFloat);
  const at::Tensor crop_t = at::tensor({crop[0], crop[1], crop[2], crop[3]}, at::kLong).to(at::kFloat);
  const at::Tensor img_t = at::tensor({int64_t(0), int64_t(0), orig_w, orig_h}, at::kLong).to(at::kFloat);
  const at::Tensor near = ((un - crop_t).abs() <= 20.0) & ~((un - img_t).abs() <= 20.0);
  const at::Tensor keep = ~near.any(1);
  at::Tensor kept_binary = binary;
  if (!keep.all().item<bool>()) {
    const at::Tensor idx = keep.nonzero().squeeze(1);
    kept_binary = binary.index_select(0, idx);
    boxes = boxes.index_select(0, idx);
    iou = iou.index_select(0, idx);
    low = low.index_select(0, idx);
    pts = pts.index_select(0, idx);
    stability = stability.index_select(0, idx);
  }
  const auto b = boxes.accessor<int64_t, 2>();
  const auto p = pts.accessor<double, 2>();
  for (int64_t i = 0; i < kept_binary.size(0); ++i) {
    Candidate c;
    c.mask = kept_binary[i].clone();
    c.low_res = low[i].clone();
    c.iou = iou[i].item<double>();
    c.stability = stability[i].item<double>();
    c.box = {b[i][0], b[i][1], b[i][2], b[i][3]};
    c.point = {p[i][0], p[i][1]};
    c.crop = crop_index;
    out.push_back(std::move(c));
  }
}

}  // namespace

std::vector<SamMaskRecord> sam_generate_masks(std::shared_ptr<const SamModel> model, const at::Tensor& rgb_hwc,
                                              const SamAutoMaskOptions& o, const at::Tensor& full_image_embeddings) {
  TORCH_CHECK(rgb_hwc.dim() == 3 && rgb_hwc.size(2) == 3 && rgb_hwc.scalar_type() == at::kByte,
              "SAM automatic masks: expected an (H,W,3) uint8 RGB image, got ", rgb_hwc.sizes());
  if (o.points_per_batch < 1) throw std::invalid_argument("SAM automatic masks: points_per_batch must be >= 1");
  const int64_t H = rgb_hwc.size(0), W = rgb_hwc.size(1);
  std::vector<int64_t> layers;
  const auto crops = sam_crop_boxes(H, W, o.crop_n_layers, o.crop_overlap_ratio, &layers);
  std::vector<SamFrame> frames(crops.size());
  std::vector<Candidate> all;
  SamPredictor predictor(model);
  for (size_t ci = 0; ci < crops.size(); ++ci) {
    const auto& crop = crops[ci];
    const at::Tensor cropped = rgb_hwc.slice(0, crop[1], crop[3]).slice(1, crop[0], crop[2]).contiguous();
    if (ci == 0 && full_image_embeddings.defined())
      predictor.set_embeddings(full_image_embeddings, sam_frame(H, W, model->geometry().image_size));
    else
      predictor.set_image(cropped);
    frames[ci] = predictor.frame();
    // build_all_layer_point_grids: int(n / scale**layer) points per side.
    const auto per_side = static_cast<int64_t>(
        static_cast<double>(o.points_per_side) /
        std::pow(static_cast<double>(o.crop_n_points_downscale_factor), static_cast<double>(layers[ci])));
    const at::Tensor grid = sam_point_grid(per_side);
    const at::Tensor scale = at::tensor({cropped.size(1), cropped.size(0)}, at::kLong).unsqueeze(0);
    const at::Tensor points = grid * scale;  // float64
    std::vector<Candidate> crop_data;
    for (int64_t s = 0; s < points.size(0); s += o.points_per_batch)
      process_batch(predictor, points.slice(0, s, std::min(s + o.points_per_batch, points.size(0))), crop, H, W, ci, o,
                    crop_data);
    // Duplicates within the crop, ranked by predicted IoU.
    std::vector<float> scores;
    for (const auto& c : crop_data) scores.push_back(static_cast<float>(c.iou));
    crop_data = select(crop_data,
                       sam_box_nms(boxes_tensor(crop_data), at::tensor(scores, at::kFloat), o.box_nms_thresh));
    for (auto& c : crop_data) {  // back to the image frame
      c.box = {c.box[0] + crop[0], c.box[1] + crop[1], c.box[2] + crop[0], c.box[3] + crop[1]};
      c.point = {c.point[0] + crop[0], c.point[1] + crop[1]};
    }
    for (auto& c : crop_data) all.push_back(std::move(c));
  }
  if (crops.size() > 1) {  // duplicates between crops: prefer masks from smaller crops
    std::vector<float> scores;
    for (const auto& c : all) {
      const auto& cb = crops[c.crop];
      scores.push_back(1.0f / static_cast<float>((cb[2] - cb[0]) * (cb[3] - cb[1])));
    }
    all = select(all, sam_box_nms(boxes_tensor(all), at::tensor(scores, at::kFloat), o.crop_nms_thresh));
  }

  std::vector<SamMaskRecord> records;
  for (auto& c : all) {
    const auto& cb = crops[c.crop];
    SamMaskRecord r;
    // uncrop_masks: zero-pad the crop's mask to the image.
    const std::vector<int64_t> pad = {cb[0], W - cb[2], cb[1], H - cb[3]};
    r.segmentation = at::constant_pad_nd(c.mask.to(at::kByte), pad, 0).to(at::kBool);
    const at::Tensor logits = sam_postprocess_masks(c.low_res.unsqueeze(0).unsqueeze(0).to(model->device()),
                                                    frames[c.crop])[0][0]
                                  .to(at::kCPU);
    r.logits = at::constant_pad_nd(logits, pad, kSamOutsideCropLogit);
    r.predicted_iou = c.iou;
    r.stability_score = c.stability;
    r.bbox = {double(c.box[0]), double(c.box[1]), double(c.box[2] - c.box[0]), double(c.box[3] - c.box[1])};
    r.point = c.point;
    r.crop_box = {cb[0], cb[1], cb[2] - cb[0], cb[3] - cb[1]};
    records.push_back(std::move(r));
  }

  if (o.min_mask_region_area > 0 && !records.empty()) {
    // postprocess_small_regions: fill small holes, drop small islands; masks
    // left unchanged are preferred by a second NMS.
    std::vector<float> scores;
    std::vector<at::Tensor> new_masks;
    for (auto& r : records) {
      bool changed_holes = false, changed_islands = false;
      at::Tensor m = sam_remove_small_regions(r.segmentation, static_cast<double>(o.min_mask_region_area), true,
                                              &changed_holes);
      m = sam_remove_small_regions(m, static_cast<double>(o.min_mask_region_area), false, &changed_islands);
      scores.push_back(changed_holes || changed_islands ? 0.f : 1.f);
      new_masks.push_back(m);
    }
    const at::Tensor boxes = sam_masks_to_boxes(at::stack(new_masks));
    const at::Tensor keep = sam_box_nms(boxes, at::tensor(scores, at::kFloat),
                                        std::max(o.box_nms_thresh, o.crop_nms_thresh));
    std::vector<SamMaskRecord> kept;
    const auto k = keep.accessor<int64_t, 1>();
    const auto b = boxes.accessor<int64_t, 2>();
    for (int64_t i = 0; i < keep.size(0); ++i) {
      SamMaskRecord r = std::move(records[k[i]]);
      if (scores[k[i]] == 0.f) {  // recompute what changed
        const at::Tensor& m = new_masks[k[i]];
        const at::Tensor diff = m != r.segmentation;
        r.logits = at::where(diff, at::where(m, at::scalar_tensor(1.f), at::scalar_tensor(-1.f)), r.logits);
        r.segmentation = m;
        r.bbox = {double(b[k[i]][0]), double(b[k[i]][1]), double(b[k[i]][2] - b[k[i]][0]),
                  double(b[k[i]][3] - b[k[i]][1])};
      }
      kept.push_back(std::move(r));
    }
    records = std::move(kept);
  }
  for (auto& r : records) r.area = r.segmentation.sum().item<int64_t>();
  return records;
}

}  // namespace ovseg::models
