// cliptrase_cluster_vote: CLIPtrase's clustering step (clip_self_correlation.py).
// Patches are clustered by their self-correlation rows (DBSCAN, Euclidean);
// each cluster's mean row is a soft map over the grid, upsampled bilinearly
// `ratio` times, median-filtered (size 2*ratio-1), resized to the logits'
// size; every pixel joins the cluster whose map is highest there, and takes
// the majority class of that cluster's pixels (argmax of the logits; ties go
// to the lower class index as torch.unique + argmax do). Without any cluster
// the per-pixel argmax is returned unchanged.
//
// Outputs: `labels`, and `logits` = the input scores with, per pixel, the
// top score and the voted class's score swapped, so argmax(logits) is the
// vote and each pixel keeps its set of scores. With `logits` as the
// pipeline's [outputs] logits, the harness's window phase covers the
// correlation and the vote (see pipelines/cliptrase.toml).
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x

#include "cluster_ops.hpp"
#include <ovseg/clip/last_block.hpp>

namespace {
using namespace ovseg;
using namespace ovseg::training_free;
using namespace ovseg::clip;

class CliptraseClusterVote : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("cliptrase_cluster_vote", StageKind::Postprocess,
                            "CLIPtrase: DBSCAN on patch self-correlation, median-filtered cluster maps, "
                            "majority class vote per cluster")
        .input("logits", PortType::Logits, "class scores (B,K,H,W), usually resized to the image")
        .input("correlation", PortType::FeatureMap, "cliptrase_correlation's (B,h*w,h,w)")
        .output("labels", PortType::LabelMap, "voted class per pixel (B,H,W)")
        .output("logits", PortType::Logits, "input logits with top and voted scores swapped per pixel (B,K,H,W)")
        .param("eps", 0.7, "DBSCAN radius (paper: 0.7 at 224 px, 1.1 at 336 px)")
        .range(0.0, std::nullopt)
        .param("min_samples", int64_t{3},
               "DBSCAN core-point neighbourhood size incl. itself (paper: 3 at 224, 7 at 336)")
        .range(1, std::nullopt)
        // The filter's cost grows as ratio^3 (a ratio^2 larger map, a 2*ratio-1
        // window per pixel): ratio 32 is ~10 s per cluster on a 320x240 image
        // on 2 cores, 64 over a minute per cluster, so the range stops at 32.
        .param("ratio", int64_t{4}, "cluster maps are upsampled ratio x before a (2*ratio-1) median filter")
        .range(1, 32);
  }
  explicit CliptraseClusterVote(const StageInit& init)
      : eps_(init.params.get_float("eps")),
        min_samples_(init.params.get_int("min_samples")),
        ratio_(init.params.get_int("ratio")) {}

  void run(StageContext& ctx) override {
    at::NoGradGuard no_grad;
    const Logits& logits = ctx.input<Logits>("logits");
    const at::Tensor& corr = ctx.input<FeatureMap>("correlation").features;
    const std::string node = "node '" + ctx.node_id() + "'";
    expect_shape(logits.logits, {-1, -1, -1, -1}, node + " input 'logits'");
    const int64_t B = logits.logits.size(0), K = logits.logits.size(1);
    expect_shape(corr, {B, -1, -1, -1}, node + " input 'correlation'");
    const int64_t gh = corr.size(2), gw = corr.size(3);
    if (corr.size(1) != gh * gw)
      throw std::invalid_argument(node + " input 'correlation' " + shape_string(corr) +
                                  ": expected (B, h*w, h, w) from cliptrase_correlation");
    const at::Tensor& in = logits.logits;
    at::Tensor argmax = in.argmax(1, true);                     // (B,1,H,W)
    at::Tensor preds = argmax.squeeze(1).to(at::kCPU).clone();  // voted in place; argmax stays
    at::Tensor rows_all = corr.to(at::kCPU, at::kFloat).reshape({B, gh * gw, gh * gw});
    for (int64_t b = 0; b < B; ++b) vote(rows_all[b], gh, gw, K, preds[b]);
    at::Tensor voted = preds.to(in.device());
    if (ctx.wants_output("logits")) {
      at::Tensor top = in.gather(1, argmax), at_voted = in.gather(1, voted.unsqueeze(1));
      at::Tensor out = in.clone();
      out.scatter_(1, voted.unsqueeze(1), top).scatter_(1, argmax, at_voted);
      ctx.set_output("logits", Logits{out, logits.class_names});
    }
    ctx.set_output("labels", LabelMap{voted, logits.class_names});
  }

 private:
  // Replaces pred (H,W) in place with the per-cluster majority.
  void vote(const at::Tensor& rows, int64_t gh, int64_t gw, int64_t K, at::Tensor pred) const {
    std::vector<int64_t> labels = dbscan(rows, eps_, min_samples_);
    const int64_t nc = labels.empty() ? 0 : *std::max_element(labels.begin(), labels.end()) + 1;
    if (nc == 0) return;
    // Mean correlation row of each cluster -> (nc, gh, gw).
    at::Tensor lab = at::tensor(labels, at::kLong);
    at::Tensor keep = lab.ge(0);
    at::Tensor sums = at::zeros({nc, rows.size(1)}, rows.options())
                          .index_add_(0, lab.masked_select(keep), rows.index({keep}));
    at::Tensor counts = at::bincount(lab.masked_select(keep), {}, nc).to(at::kFloat);
    at::Tensor maps = (sums / counts.unsqueeze(1)).reshape({1, nc, gh, gw});
    maps = at::upsample_bilinear2d(maps, {ratio_ * gh, ratio_ * gw}, false)[0];
    std::vector<at::Tensor> smooth;
    for (int64_t c = 0; c < nc; ++c) smooth.push_back(median_filter(maps[c], 2 * ratio_ - 1));
    const int64_t H = pred.size(0), W = pred.size(1);
    at::Tensor region =
        at::upsample_bilinear2d(at::stack(smooth).unsqueeze(0), {H, W}, false)[0].argmax(0).contiguous();

    // Majority vote: one pass to count, one to assign.
    const int64_t* rg = region.data_ptr<int64_t>();
    int64_t* pd = pred.data_ptr<int64_t>();
    std::vector<int64_t> votes(nc * K, 0);
    for (int64_t i = 0; i < H * W; ++i) ++votes[rg[i] * K + pd[i]];
    std::vector<int64_t> winner(nc, -1);
    for (int64_t c = 0; c < nc; ++c) {
      int64_t best = 0;
      for (int64_t k = 0; k < K; ++k)
        if (votes[c * K + k] > best) best = votes[c * K + k], winner[c] = k;
    }
    for (int64_t i = 0; i < H * W; ++i)
      if (winner[rg[i]] >= 0) pd[i] = winner[rg[i]];
  }

  double eps_;
  int64_t min_samples_, ratio_;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(CliptraseClusterVote);
