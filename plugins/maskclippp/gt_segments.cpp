// gt_segments: ground-truth masks with their classes, from the world's (or
// any data set's) instance masks and label map, for MaskCLIP++'s training on
// ground-truth masks and for its oracle rows.
//   panoptic  one mask per (object instance, class) and per stuff class:
//             COCO-Panoptic's segments, the masks the authors train on
//             (an object's parts, classes of their own here, are their own
//             segments, as the label map says);
//   semantic  one mask per class present: the authors' GTSegmentor, their
//             mask-accuracy oracle.
// Pixels whose label is ignored (255; unseen classes while training) are in
// no mask.
#include <ovseg/sdk.hpp>

#include <map>

namespace {

using namespace ovseg;

class GtSegments : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("gt_segments", StageKind::Encoder,
                            "ground-truth masks with classes from instances + labels (panoptic or per-class)")
        .input("instances", PortType::Masks, "object instance masks (B,N,H,W) (input.instances)")
        .input("labels", PortType::LabelMap, "class of every pixel (B,H,W) (input.labels)")
        .output("masks", PortType::Masks, "segments (B,S,H,W) as 1 / 0 logits, their classes (B,S); padding class -1")
        .param("mode", "panoptic", "panoptic: per (instance, class) and per stuff class; semantic: per class")
        .choices({"panoptic", "semantic"})
        .param("ignore_index", 255, "label of pixels in no segment")
        .param("min_pixels", 1, "smaller segments are dropped")
        .range(1, std::nullopt);
  }

  explicit GtSegments(const StageInit& init)
      : semantic_(init.params.get_string("mode") == "semantic"),
        ignore_(init.params.get_int("ignore_index")),
        min_pixels_(init.params.get_int("min_pixels")) {}

  void run(StageContext& ctx) override {
    const Masks& inst = ctx.input<Masks>("instances");
    const LabelMap& lab = ctx.input<LabelMap>("labels");
    expect_shape(lab.labels, {-1, -1, -1}, "node '" + ctx.node_id() + "' input 'labels'");
    const int64_t B = lab.labels.size(0), H = lab.labels.size(1), W = lab.labels.size(2);
    expect_shape(inst.logits, {B, -1, H, W},
                 "node '" + ctx.node_id() + "' input 'instances' (beside labels " + shape_string(lab.labels) + ")");
    const int64_t N = inst.logits.size(1);
    // Instance id per pixel: 1 + the first mask holding it, 0 for stuff.
    at::Tensor inside = (inst.logits > 0).to(at::kLong).cpu();
    at::Tensor id = N == 0 ? at::zeros({B, H, W}, at::kLong)
                           : at::where(inside.any(1), inside.argmax(1) + 1, at::zeros({}, at::kLong));
    const at::Tensor labels = lab.labels.to(at::kCPU, at::kLong).contiguous();
    id = id.contiguous();
    std::vector<std::vector<std::pair<int64_t, int64_t>>> keys(B);  // (instance, class) per segment
    int64_t S = 0;
    for (int64_t b = 0; b < B; ++b) {
      const int64_t* l = labels[b].data_ptr<int64_t>();
      const int64_t* d = id[b].data_ptr<int64_t>();
      std::map<std::pair<int64_t, int64_t>, int64_t> pixels;
      for (int64_t p = 0; p < H * W; ++p)
        if (l[p] != ignore_ && l[p] >= 0) ++pixels[{semantic_ ? 0 : d[p], l[p]}];
      for (const auto& [k, n] : pixels)
        if (n >= min_pixels_) keys[b].push_back(k);
      S = std::max<int64_t>(S, static_cast<int64_t>(keys[b].size()));
    }
    Masks out;
    out.logits = at::zeros({B, S, H, W});
    out.classes = at::full({B, S}, -1, at::kLong);
    for (int64_t b = 0; b < B; ++b)
      for (size_t s = 0; s < keys[b].size(); ++s) {
        const auto [instance, cls] = keys[b][s];
        at::Tensor m = labels[b] == cls;
        if (!semantic_) m = m & (id[b] == instance);
        out.logits[b][static_cast<int64_t>(s)].copy_(m.to(at::kFloat));
        out.classes[b][static_cast<int64_t>(s)] = cls;
      }
    out.logits = out.logits.to(ctx.device());
    out.classes = out.classes.to(ctx.device());
    ctx.set_output("masks", std::move(out));
  }

 private:
  bool semantic_;
  int64_t ignore_, min_pixels_;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(GtSegments);
