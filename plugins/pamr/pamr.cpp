// pamr: Pixel-Adaptive Mask Refinement (Araslanov & Roth, "Single-Stage
// Semantic Segmentation from Image Labels", CVPR 2020; visinf/1-stage-wseg
// pamr.py), applied the way NACLIP applies it (sinahmr/NACLIP naclip.py):
// after the logits are resized to the image, on the raw (unscaled) logits,
// with the CLIP-normalised input image resized bilinearly to the logits' size.
//
// For the 8 neighbours j of pixel i at each dilation d (3x3 taps, replicate
// padding), per colour channel c:
//   std_c(i) = unbiased std of x_c over all 9 taps of every dilation (centre
//              counted once per dilation, as LocalStDev does)
//   a(i,j)   = softmax_j( mean_c  -|x_c(i) - x_c(j)| / (1e-8 + 0.1 std_c(i)) )
// then `iterations` times:  m(i) <- sum_j a(i,j) m(j).
// The propagation is linear in m, so running it on logits already multiplied
// by a logit scale (cosine_logits' output) equals NACLIP's order (PAMR on the
// raw cosines, scale after). pamr.py's own resize of the mask to the image
// (align_corners=True) is the identity here: the image is brought to the
// logits' size instead, as naclip.py does before calling PAMR.
#include <ovseg/sdk.hpp>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

using namespace ovseg;

// The 8 off-centre taps in pamr.py's kernel order (row-major 3x3, centre skipped).
constexpr int kTaps[8][2] = {{-1, -1}, {-1, 0}, {-1, 1}, {0, -1}, {0, 1}, {1, -1}, {1, 0}, {1, 1}};

// (B,P,H,W) affinities, P = 8 * dilations, from the image (B,C,H,W): plain
// loops, one pass per pixel (pamr.py's unfold-style stack would be a
// (B,C,P,H,W) temporary, tens of MB at 448x448, mostly page faults).
at::Tensor pamr_affinity(const at::Tensor& image_in, const std::vector<int64_t>& dilations) {
  const at::Tensor image = image_in.contiguous();
  const int64_t b_count = image.size(0), c_count = image.size(1), h = image.size(2), w = image.size(3);
  const int64_t nd = static_cast<int64_t>(dilations.size()), p_count = 8 * nd, plane = h * w;
  at::Tensor aff = at::empty({b_count, p_count, h, w}, image.options());
  const float* img = image.data_ptr<float>();
  float* out = aff.data_ptr<float>();
  at::parallel_for(0, b_count * h, 16, [&](int64_t begin, int64_t end) {
    std::vector<double> taps(9 * nd), score(p_count);
    for (int64_t by = begin; by < end; ++by) {
      const int64_t b = by / h, y = by % h;
      for (int64_t x = 0; x < w; ++x) {
        std::fill(score.begin(), score.end(), 0.0);
        for (int64_t c = 0; c < c_count; ++c) {
          const float* ch = img + (b * c_count + c) * plane;
          // All 9 taps of every dilation (LocalStDev), replicate padding.
          int64_t t = 0;
          for (int64_t d : dilations)
            for (int dy = -1; dy <= 1; ++dy)
              for (int dx = -1; dx <= 1; ++dx)
                taps[t++] =
                    ch[std::clamp<int64_t>(y + dy * d, 0, h - 1) * w + std::clamp<int64_t>(x + dx * d, 0, w - 1)];
          double mean = 0, var = 0;
          for (double v : taps) mean += v;
          mean /= static_cast<double>(t);
          for (double v : taps) var += (v - mean) * (v - mean);
          const double scale = 1.0 / ((1e-8 + 0.1 * std::sqrt(var / (t - 1))) * c_count);
          const double centre = ch[y * w + x];
          for (int64_t i = 0, p = 0; i < t; ++i)
            if (i % 9 != 4) score[p++] -= std::abs(centre - taps[i]) * scale;
        }
        const double mx = *std::max_element(score.begin(), score.end());
        double sum = 0;
        for (double& v : score) sum += (v = std::exp(v - mx));
        for (int64_t p = 0; p < p_count; ++p)
          out[(b * p_count + p) * plane + y * w + x] = static_cast<float>(score[p] / sum);
      }
    }
  });
  return aff;
}

// One step m <- sum_p a_p * shift_p(m): rows of one (b,k) plane at a
// time, the replicate clamp only at the row ends so the inner loop vectorises.
void propagate(const float* aff, const float* in, float* out, int64_t b, int64_t k, int64_t h, int64_t w,
               const std::vector<int64_t>& dilations) {
  const int64_t p_count = static_cast<int64_t>(dilations.size()) * 8, plane = h * w;
  at::parallel_for(0, b * k, 1, [&](int64_t begin, int64_t end) {
    for (int64_t bk = begin; bk < end; ++bk) {
      const float* src = in + bk * plane;
      const float* a_img = aff + (bk / k) * p_count * plane;
      float* dst = out + bk * plane;
      for (int64_t y = 0; y < h; ++y) {
        float* o = dst + y * w;
        std::fill(o, o + w, 0.f);
        int64_t p = 0;
        for (int64_t d : dilations) {
          for (int t = 0; t < 8; ++t, ++p) {
            const int64_t dx = kTaps[t][1] * d;
            const float* s = src + std::clamp<int64_t>(y + kTaps[t][0] * d, 0, h - 1) * w;
            const float* a = a_img + p * plane + y * w;
            // Columns whose neighbour x + dx is inside the row.
            const int64_t lo = std::clamp<int64_t>(-dx, 0, w), hi = std::clamp<int64_t>(w - dx, lo, w);
            for (int64_t x = 0; x < lo; ++x) o[x] += a[x] * s[0];
            for (int64_t x = lo; x < hi; ++x) o[x] += a[x] * s[x + dx];
            for (int64_t x = hi; x < w; ++x) o[x] += a[x] * s[w - 1];
          }
        }
      }
    }
  });
}

class Pamr : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("pamr", StageKind::Postprocess, "pixel-adaptive mask refinement of logits (NACLIP's PAMR)")
        .input("logits", PortType::Logits, "(B,K,H,W) logits at image resolution")
        .input("image", PortType::Image, "(B,3,H',W') RGB in [0,1]; resized to H,W if needed")
        .output("logits", PortType::Logits, "(B,K,H,W) refined logits")
        .param("iterations", 10, "propagation steps (NACLIP pamr_steps; 0 = identity)")
        .range(0, 1000)
        .param("dilations", std::vector<int64_t>{8, 16}, "3x3 neighbourhood dilations (NACLIP pamr_stride)")
        .range(1, std::nullopt)
        .param("image_normalization", "clip",
               "image fed to the affinity: CLIP mean/std normalised (as NACLIP) or raw [0,1]")
        .choices({"clip", "none"});
  }

  explicit Pamr(const StageInit& init)
      : iterations_(init.params.get_int("iterations")),
        dilations_(init.params.get<std::vector<int64_t>>("dilations")),
        clip_norm_(init.params.get_string("image_normalization") == "clip") {
    if (dilations_.empty()) throw std::invalid_argument("dilations must list at least one dilation");
  }

  void run(StageContext& ctx) override {
    AllCoresScope all_cores;  // the loops below are this stage's own parallel work
    const std::string node = "node '" + ctx.node_id() + "'";
    const Logits& in = ctx.input<Logits>("logits");
    expect_shape(in.logits, {-1, -1, -1, -1}, node + " input 'logits'");
    at::Tensor image = ctx.input<Image>("image").pixels;
    expect_shape(image, {in.logits.size(0), -1, -1, -1}, node + " input 'image'");
    if (iterations_ == 0) {
      ctx.set_output("logits", in);
      return;
    }
    const int64_t b = in.logits.size(0), k = in.logits.size(1), h = in.logits.size(2), w = in.logits.size(3);
    // Runs on the CPU (tight loops); other devices get their tensor back.
    image = image.to(at::kCPU, at::kFloat);
    if (clip_norm_) {
      // OpenAI CLIP's pixel mean/std, NACLIP's SegDataPreProcessor (x255 scale).
      image = (image - at::tensor({0.48145466f, 0.4578275f, 0.40821073f}).view({1, 3, 1, 1})) /
              at::tensor({0.26862954f, 0.26130258f, 0.27577711f}).view({1, 3, 1, 1});
    }
    if (image.size(2) != h || image.size(3) != w)
      image = at::upsample_bilinear2d(image, {h, w}, /*align_corners=*/false);
    const at::Tensor aff = pamr_affinity(image, dilations_);

    // May share storage with the input, which must stay untouched: the
    // first step reads it, later steps ping-pong between two fresh buffers.
    at::Tensor m = in.logits.to(at::kCPU, at::kFloat).contiguous();
    at::Tensor next = at::empty_like(m), spare = at::empty_like(m);
    for (int64_t it = 0; it < iterations_; ++it) {
      propagate(aff.data_ptr<float>(), m.data_ptr<float>(), next.data_ptr<float>(), b, k, h, w, dilations_);
      m = next;
      std::swap(next, spare);
    }
    ctx.set_output("logits", Logits{m.to(in.logits.device(), in.logits.scalar_type()), in.class_names});
  }

 private:
  int64_t iterations_;
  std::vector<int64_t> dilations_;
  bool clip_norm_;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(Pamr);
