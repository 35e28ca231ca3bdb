// densecrf: fully connected CRF refinement of logits (Krähenbühl & Koltun 2011)
// with mean-field inference on permutohedral lattices, as pydensecrf's
//   d.setUnaryEnergy(-log softmax(logits))
//   d.addPairwiseGaussian(sxy=theta_gamma, compat=w_smoothness)
//   d.addPairwiseBilateral(sxy=theta_alpha, srgb=theta_beta, rgbim=image*255, compat=w_appearance)
//   Q = d.inference(iterations)
// Output logits are log Q, so softmax(output) = Q and argmax is the MAP label.
//
// Defaults are DeepLab's CRF settings for PASCAL VOC (Chen et al., DeepLab
// v2; the same in kazuto1011/deeplab-pytorch's configs): bi_w = 4,
// bi_xy_std = 67, bi_rgb_std = 3, pos_w = 3, pos_xy_std = 1; 5 iterations as in
// pydensecrf's examples.
//
// Class-specific CRF (seed 003: e.g. a stronger appearance kernel for
// "person"): class_override_names lists classes whose kernel weights differ;
// class_override_w_appearance / _w_smoothness give their weights (empty =
// keep the global one). This is densecrf's DiagonalCompatibility: label l is
// pulled towards agreement with similar pixels with strength w[l] — see
// mean_field.hpp.
#include <ovseg/sdk.hpp>

#include <algorithm>
#include <cfloat>
#include <iomanip>
#include <sstream>

#include "mean_field.hpp"

namespace {

using namespace ovseg;
namespace dc = ovseg::densecrf;

std::string join_names(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

class DenseCrf : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("densecrf", StageKind::Postprocess,
                            "fully connected CRF (mean field, permutohedral lattice); each theta must "
                            "keep pixel positions (or 0..255 colours) / theta within a few thousand, the "
                            "lattice's 16-bit range, or the node stops with an error naming it")
        .input("logits", PortType::Logits, "(B,K,H,W) logits; unary = -log softmax")
        .input("image", PortType::Image, "(B,3,H',W') RGB in [0,1]; resized to H,W if needed")
        .output("logits", PortType::Logits, "(B,K,H,W) log of the CRF marginals")
        .param("iterations", 5, "mean-field iterations (0 = log softmax of the input)")
        .range(0, 1000)
        .param("w_appearance", 4.0, "appearance (bilateral) kernel weight (DeepLab bi_w)")
        .range(0.0, std::nullopt)
        .param("theta_alpha", 67.0, "appearance kernel position std in pixels (bi_xy_std)")
        .range(1e-3, std::nullopt)
        .param("theta_beta", 3.0, "appearance kernel colour std, 0..255 scale (bi_rgb_std)")
        .range(1e-3, std::nullopt)
        .param("w_smoothness", 3.0, "smoothness (position-only) kernel weight (pos_w)")
        .range(0.0, std::nullopt)
        .param("theta_gamma", 1.0, "smoothness kernel std in pixels (pos_xy_std)")
        .range(1e-3, std::nullopt)
        .param("class_override_names", std::vector<std::string>{},
               "classes with their own kernel weights (class-specific CRF)")
        .param("class_override_w_appearance", std::vector<double>{},
               "appearance weight per class_override_names entry (empty = w_appearance)")
        .range(0.0, std::nullopt)
        .param("class_override_w_smoothness", std::vector<double>{},
               "smoothness weight per class_override_names entry (empty = w_smoothness)")
        .range(0.0, std::nullopt);
  }

  explicit DenseCrf(const StageInit& init)
      : iterations_(static_cast<int>(init.params.get_int("iterations"))),
        w_app_(init.params.get_float("w_appearance")),
        theta_alpha_(init.params.get_float("theta_alpha")),
        theta_beta_(init.params.get_float("theta_beta")),
        w_smooth_(init.params.get_float("w_smoothness")),
        theta_gamma_(init.params.get_float("theta_gamma")),
        override_names_(init.params.get<std::vector<std::string>>("class_override_names")),
        override_app_(init.params.get<std::vector<double>>("class_override_w_appearance")),
        override_smooth_(init.params.get<std::vector<double>>("class_override_w_smoothness")) {
    for (const auto* list : {&override_app_, &override_smooth_}) {
      if (!list->empty() && list->size() != override_names_.size())
        throw std::invalid_argument("class_override weights have " + std::to_string(list->size()) +
                                    " entries but class_override_names has " + std::to_string(override_names_.size()) +
                                    "; give one weight per name (or none)");
    }
    if (override_names_.empty() == false && override_app_.empty() && override_smooth_.empty())
      throw std::invalid_argument(
          "class_override_names is set but neither class_override_w_appearance nor "
          "class_override_w_smoothness is");
  }

  void run(StageContext& ctx) override {
    AllCoresScope all_cores;  // the loops below are this stage's own parallel work
    const std::string node = "node '" + ctx.node_id() + "'";
    const Logits& in = ctx.input<Logits>("logits");
    expect_shape(in.logits, {-1, -1, -1, -1}, node + " input 'logits'");
    const int64_t b = in.logits.size(0), k = in.logits.size(1), h = in.logits.size(2), w = in.logits.size(3);
    at::Tensor img = ctx.input<Image>("image").pixels;
    expect_shape(img, {-1, 3, -1, -1}, node + " input 'image'");
    if (img.size(0) != b)
      throw std::invalid_argument(node + ": image batch " + shape_string(img) + " does not match logits " +
                                  shape_string(in.logits));
    img = img.to(at::kCPU, at::kFloat);
    if (img.size(2) != h || img.size(3) != w) img = at::upsample_bilinear2d(img, {h, w}, /*align_corners=*/false);
    // pydensecrf takes the image as uint8 RGB; keep the 0..255 scale.
    const at::Tensor rgb = (img * 255.0).permute({0, 2, 3, 1}).contiguous();  // (B,H,W,3)
    const at::Tensor unary =
        (-at::log_softmax(in.logits.to(at::kCPU, at::kFloat), 1)).permute({0, 2, 3, 1}).contiguous();

    std::vector<float> app_w, smooth_w;
    label_weights(in.class_names, k, app_w, smooth_w);
    at::Tensor q_out = at::empty({b, h, w, k}, at::kFloat);
    for (int64_t i = 0; i < b; ++i) {
      std::vector<dc::Kernel> kernels;  // none needed for 0 iterations
      if (iterations_ > 0) {
        if (any_positive(smooth_w)) kernels.push_back(smoothness_kernel(node, h, w, smooth_w));
        if (any_positive(app_w)) kernels.push_back(appearance_kernel(node, rgb[i], h, w, app_w));
      }
      std::vector<float> q = dc::mean_field(unary[i].data_ptr<float>(), h * w, k, kernels, iterations_, scratch_);
      std::copy(q.begin(), q.end(), q_out[i].data_ptr<float>());
    }
    at::Tensor out = at::log(q_out.clamp_min(FLT_MIN)).permute({0, 3, 1, 2}).contiguous();
    ctx.set_output("logits", Logits{out.to(in.logits.device(), in.logits.scalar_type()), in.class_names});
  }

 private:
  static bool any_positive(const std::vector<float>& v) {
    return std::any_of(v.begin(), v.end(), [](float x) { return x > 0; });
  }

  // Per-label kernel weights: the global ones, then the overrides by name.
  void label_weights(const std::vector<std::string>& names, int64_t k, std::vector<float>& app,
                     std::vector<float>& smooth) const {
    app.assign(k, static_cast<float>(w_app_));
    smooth.assign(k, static_cast<float>(w_smooth_));
    for (size_t j = 0; j < override_names_.size(); ++j) {
      auto it = std::find(names.begin(), names.end(), override_names_[j]);
      if (it == names.end())
        throw std::invalid_argument("class_override_names: '" + override_names_[j] +
                                    "' is not among the logits' classes (" + join_names(names) + ")");
      const size_t l = static_cast<size_t>(it - names.begin());
      if (l >= static_cast<size_t>(k))
        throw std::invalid_argument("class '" + override_names_[j] + "' has index " + std::to_string(l) +
                                    " but the logits have " + std::to_string(k) + " channels");
      if (!override_app_.empty()) app[l] = static_cast<float>(override_app_[j]);
      if (!override_smooth_.empty()) smooth[l] = static_cast<float>(override_smooth_[j]);
    }
  }

  // The lattice's keys are 16-bit, so features (value / theta) must stay
  // below ~10^4: too small a theta for the image is refused naming the node,
  // the parameter and how far its features reach.
  static std::string format_number(double v) {
    std::ostringstream os;
    os << std::setprecision(6) << v;
    return os.str();
  }
  static std::string theta_reach(const char* what, const char* param, double theta, double max_value) {
    return std::string(what) + " / " + param + " (" + param + " = " + format_number(theta) + ") reach " +
           format_number(max_value / theta);
  }
  static dc::Kernel checked_kernel(const std::string& node, const std::string& reach, const float* f, int64_t n,
                                   int dim, std::vector<float> weights) {
    try {
      return dc::make_kernel(f, n, dim, std::move(weights));
    } catch (const dc::LatticeOverflow&) {
      throw std::invalid_argument(node +
                                  ": kernel features too large for the permutohedral "
                                  "lattice's 16-bit keys: " +
                                  reach + "; use a larger theta (features up to a few thousand fit)");
    }
  }

  // (x, y) / theta_gamma, as DenseCRF2D::addPairwiseGaussian.
  dc::Kernel smoothness_kernel(const std::string& node, int64_t h, int64_t w, std::vector<float> weights) const {
    std::vector<float> f(static_cast<size_t>(h * w) * 2);
    const float s = static_cast<float>(theta_gamma_);
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        f[(y * w + x) * 2 + 0] = x / s;
        f[(y * w + x) * 2 + 1] = y / s;
      }
    const std::string reach = theta_reach("positions", "theta_gamma", theta_gamma_, std::max(h, w) - 1);
    return checked_kernel(node, reach, f.data(), h * w, 2, std::move(weights));
  }

  // (x, y) / theta_alpha, (r, g, b) / theta_beta, as addPairwiseBilateral.
  dc::Kernel appearance_kernel(const std::string& node, const at::Tensor& rgb, int64_t h, int64_t w,
                               std::vector<float> weights) const {
    std::vector<float> f(static_cast<size_t>(h * w) * 5);
    const float sxy = static_cast<float>(theta_alpha_), srgb = static_cast<float>(theta_beta_);
    const float* px = rgb.data_ptr<float>();
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        const int64_t i = y * w + x;
        f[i * 5 + 0] = x / sxy;
        f[i * 5 + 1] = y / sxy;
        for (int c = 0; c < 3; ++c) f[i * 5 + 2 + c] = px[i * 3 + c] / srgb;
      }
    const std::string reach = theta_reach("positions", "theta_alpha", theta_alpha_, std::max(h, w) - 1) + ", " +
                              theta_reach("colours", "theta_beta", theta_beta_, rgb.max().item<double>());
    return checked_kernel(node, reach, f.data(), h * w, 5, std::move(weights));
  }

  int iterations_;
  double w_app_, theta_alpha_, theta_beta_, w_smooth_, theta_gamma_;
  std::vector<std::string> override_names_;
  std::vector<double> override_app_, override_smooth_;
  std::vector<float> scratch_;  // lattice filtering memory, kept across images (no page faults)
};

}  // namespace

OVSEG_REGISTER_PLUGIN(DenseCrf);
