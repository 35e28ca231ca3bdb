// densecrf: the permutohedral lattice against an exact O(N^2) Gaussian
// filter, mean field against an O(N^2) re-statement, and the plugin's
// behaviour on noisy two-region images.
#include <cmath>
#include <random>
#include <vector>

#include "mean_field.hpp"
#include "permutohedral.hpp"
#include "postprocess/postprocess_test_util.hpp"

using namespace postprocess_test;
namespace dc = ovseg::densecrf;

namespace {

// out_i = sum_j exp(-|f_i - f_j|^2 / 2) in_j, exactly (double).
std::vector<double> brute_filter(const std::vector<float>& f, int64_t n, int dim, const std::vector<float>& in,
                                 int64_t vs) {
  std::vector<double> out(n * vs, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double d2 = 0;
      for (int c = 0; c < dim; ++c) d2 += std::pow(double(f[i * dim + c]) - f[j * dim + c], 2);
      const double g = std::exp(-d2 / 2);
      for (int64_t k = 0; k < vs; ++k) out[i * vs + k] += g * in[j * vs + k];
    }
  return out;
}

double correlation(const std::vector<double>& a, const std::vector<double>& b) {
  double ma = 0, mb = 0;
  for (size_t i = 0; i < a.size(); ++i) ma += a[i], mb += b[i];
  ma /= a.size(), mb /= b.size();
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

// Bilateral features of a small image with two colour regions plus noise.
std::vector<float> bilateral_features(int64_t h, int64_t w, double sxy, double srgb, std::mt19937& rng) {
  std::normal_distribution<float> noise(0.f, 8.f);
  std::vector<float> f(h * w * 5);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const int64_t i = y * w + x;
      const float base[3] = {x < w / 2 ? 60.f : 190.f, x < w / 2 ? 90.f : 140.f, y < h / 3 ? 30.f : 220.f};
      f[i * 5 + 0] = x / sxy;
      f[i * 5 + 1] = y / sxy;
      for (int c = 0; c < 3; ++c) f[i * 5 + 2 + c] = (base[c] + noise(rng)) / srgb;
    }
  return f;
}

// Two-region image (left colour A, right colour B) with noisy 2-class logits:
// each pixel's logits favour its true class, except `flip` of them.
struct NoisyScene {
  at::Tensor image, logits, truth;
};
NoisyScene noisy_scene(int64_t h, int64_t w, double flip, uint64_t seed) {
  at::manual_seed(seed);
  NoisyScene s;
  s.image = at::empty({1, 3, h, w});
  s.image.narrow(3, 0, w / 2).copy_(at::tensor({0.2f, 0.3f, 0.7f}).view({1, 3, 1, 1}).expand({1, 3, h, w / 2}));
  s.image.narrow(3, w / 2, w - w / 2)
      .copy_(at::tensor({0.8f, 0.6f, 0.1f}).view({1, 3, 1, 1}).expand({1, 3, h, w - w / 2}));
  s.image = (s.image + 0.02 * at::randn({1, 3, h, w})).clamp(0, 1);
  s.truth = at::zeros({h, w}, at::kLong);
  s.truth.narrow(1, w / 2, w - w / 2).fill_(1);
  const at::Tensor flipped = at::rand({h, w}) < flip;
  const at::Tensor noisy = at::where(flipped, 1 - s.truth, s.truth);
  const at::Tensor margin = 0.5 + at::rand({h, w});  // logit gap 0.5..1.5
  s.logits = at::stack({at::where(noisy == 0, margin, -margin), at::where(noisy == 1, margin, -margin)})
                 .unsqueeze(0)
                 .contiguous();
  return s;
}

double error_rate(const at::Tensor& logits, const at::Tensor& truth) {
  return (logits[0].argmax(0) != truth).to(at::kDouble).mean().item<double>();
}

}  // namespace

TEST_CASE("permutohedral filtering approximates the exact Gaussian filter") {
  std::mt19937 rng(1);
  const int64_t h = 14, w = 18, n = h * w;
  for (auto [sxy, srgb] : {std::pair{5.0, 20.0}, std::pair{10.0, 40.0}}) {
    CAPTURE(sxy);
    const std::vector<float> f = bilateral_features(h, w, sxy, srgb, rng);
    std::uniform_real_distribution<float> u(0.f, 1.f);
    std::vector<float> in(n * 3);
    for (float& v : in) v = u(rng);
    const dc::PermutohedralLattice lattice(f.data(), n, 5);
    CHECK(lattice.num_lattice_points() > 0);
    std::vector<float> got(n * 3), norm_got(n);
    lattice.compute(got.data(), in.data(), 3);
    const std::vector<float> ones(n, 1.f);
    lattice.compute(norm_got.data(), ones.data(), 1);
    const std::vector<double> want = brute_filter(f, n, 5, in, 3);
    const std::vector<double> norm_want = brute_filter(f, n, 5, ones, 1);
    // Normalised outputs (weighted means of `in`, what mean field uses up
    // to the symmetric normalisation) agree within a few percent.
    std::vector<double> a(n * 3), b(n * 3);
    double worst = 0, mean = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int k = 0; k < 3; ++k) {
        a[i * 3 + k] = got[i * 3 + k] / norm_got[i];
        b[i * 3 + k] = want[i * 3 + k] / norm_want[i];
        const double rel = std::abs(a[i * 3 + k] - b[i * 3 + k]) / b[i * 3 + k];
        worst = std::max(worst, rel);
        mean += rel / (n * 3);
      }
    const std::vector<double> raw_got(got.begin(), got.end());
    MESSAGE("sxy " << sxy << ": lattice points " << lattice.num_lattice_points() << ", normalised corr "
                   << correlation(a, b) << ", rel err mean " << mean << " worst " << worst << ", raw corr "
                   << correlation(raw_got, want));
    CHECK(correlation(a, b) > 0.99);
    CHECK(mean < 0.02);
    CHECK(worst < 0.1);
    // Unnormalised, the lattice's Gaussian is only roughly the exact one
    // (Adams et al. 2010 report a few percent to ~10%).
    CHECK(correlation(raw_got, want) > 0.97);
  }
}

TEST_CASE("permutohedral filtering on a regular 1-D grid is shift-invariant and linear per channel") {
  // A 1-D regular grid: every interior point sees the same neighbourhood.
  const int64_t n = 64;
  std::vector<float> f(n);
  for (int64_t i = 0; i < n; ++i) f[i] = i * 0.25f;
  const dc::PermutohedralLattice lattice(f.data(), n, 1);
  std::vector<float> in(n * 9), out(n * 9);
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < 9; ++k) in[i * 9 + k] = float(k + 1);
  lattice.compute(out.data(), in.data(), 9);
  for (int64_t i = 16; i < 48; ++i)
    for (int k = 0; k < 9; ++k) CHECK(out[i * 9 + k] == doctest::Approx(out[i * 9] * (k + 1)).epsilon(1e-5));
  CHECK(out[32 * 9] == doctest::Approx(out[20 * 9]).epsilon(0.05));
}

TEST_CASE("mean field with the lattice tracks an exact O(N^2) mean field") {
  // Same updates as densecrf's inference, the filters done exactly.
  std::mt19937 rng(2);
  const int64_t h = 12, w = 16, n = h * w, l = 3;
  const std::vector<float> f = bilateral_features(h, w, 6.0, 30.0, rng);
  std::uniform_real_distribution<float> u(0.f, 3.f);
  std::vector<float> unary(n * l);
  for (float& v : unary) v = u(rng);
  const std::vector<float> weights = {3.f, 5.f, 4.f};
  std::vector<dc::Kernel> kernels;
  kernels.push_back(dc::make_kernel(f.data(), n, 5, weights));
  std::vector<float> scratch;
  const std::vector<float> q = dc::mean_field(unary.data(), n, l, kernels, 5, scratch);

  const std::vector<float> ones(n, 1.f);
  const std::vector<double> g1 = brute_filter(f, n, 5, ones, 1);
  std::vector<double> qe(n * l);
  auto softmax_rows = [&](const std::vector<double>& e) {
    for (int64_t i = 0; i < n; ++i) {
      double mx = -1e300, s = 0;
      for (int k = 0; k < l; ++k) mx = std::max(mx, e[i * l + k]);
      for (int k = 0; k < l; ++k) s += (qe[i * l + k] = std::exp(e[i * l + k] - mx));
      for (int k = 0; k < l; ++k) qe[i * l + k] /= s;
    }
  };
  std::vector<double> e(n * l);
  for (int64_t i = 0; i < n * l; ++i) e[i] = -unary[i];
  softmax_rows(e);
  for (int it = 0; it < 5; ++it) {
    std::vector<float> scaled(n * l);
    for (int64_t i = 0; i < n; ++i)
      for (int k = 0; k < l; ++k) scaled[i * l + k] = float(qe[i * l + k] / std::sqrt(g1[i]));
    const std::vector<double> msg = brute_filter(f, n, 5, scaled, l);
    for (int64_t i = 0; i < n; ++i)
      for (int k = 0; k < l; ++k) e[i * l + k] = -unary[i * l + k] + weights[k] * msg[i * l + k] / std::sqrt(g1[i]);
    softmax_rows(e);
  }
  double worst = 0;
  int64_t same = 0;
  for (int64_t i = 0; i < n; ++i) {
    int a = 0, b = 0;
    for (int k = 0; k < l; ++k) {
      worst = std::max(worst, std::abs(double(q[i * l + k]) - qe[i * l + k]));
      if (q[i * l + k] > q[i * l + a]) a = k;
      if (qe[i * l + k] > qe[i * l + b]) b = k;
    }
    same += a == b;
  }
  MESSAGE("mean field: worst |Q_lattice - Q_exact| " << worst << ", same label " << same << "/" << n);
  CHECK(worst < 0.1);
  CHECK(same >= n * 97 / 100);
}

TEST_CASE("densecrf with iterations = 0 returns log softmax of the logits") {
  at::manual_seed(5);
  const at::Tensor logits = 3 * at::randn({2, 4, 10, 12});
  const at::Tensor out = run_logits("densecrf", logits, at::rand({2, 3, 10, 12}), {{"iterations", int64_t{0}}});
  CHECK(out.sizes() == logits.sizes());
  CHECK((out - at::log_softmax(logits, 1)).abs().max().item<double>() < 1e-5);
  CHECK(at::equal(out.argmax(1), logits.argmax(1)));
}

TEST_CASE("densecrf cleans label noise inside colour regions") {
  const NoisyScene s = noisy_scene(40, 48, 0.3, 6);
  const double before = error_rate(s.logits, s.truth);
  const at::Tensor out = run_logits("densecrf", s.logits, s.image,
                                    {{"theta_alpha", 20.0}, {"theta_beta", 13.0}, {"w_appearance", 5.0}});
  const double after = error_rate(out, s.truth);
  MESSAGE("densecrf error rate " << before << " -> " << after);
  CHECK(before > 0.2);
  CHECK(after < 0.02);
  // Output is a log distribution per pixel.
  CHECK((out.exp().sum(1) - 1).abs().max().item<double>() < 1e-4);
}

TEST_CASE("densecrf class overrides change only the named class's kernel weights") {
  const NoisyScene s = noisy_scene(32, 32, 0.3, 7);
  const std::vector<std::string> names = {"background", "person"};
  const std::map<std::string, ovseg::ParamValue> off = {{"w_appearance", 0.0}, {"w_smoothness", 0.0}};
  // No kernel at all: the CRF is the softmax of the input.
  const at::Tensor plain = run_logits("densecrf", s.logits, s.image, off, names);
  CHECK((plain - at::log_softmax(s.logits, 1)).abs().max().item<double>() < 1e-5);
  // Overriding a class with the global weight changes nothing.
  auto with = off;
  with["class_override_names"] = std::vector<std::string>{"person"};
  with["class_override_w_appearance"] = std::vector<double>{0.0};
  CHECK(at::allclose(run_logits("densecrf", s.logits, s.image, with, names), plain));
  // An appearance kernel for "person" alone fixes person pixels in the person region.
  with["class_override_w_appearance"] = std::vector<double>{8.0};
  with["theta_alpha"] = 20.0;
  with["theta_beta"] = 13.0;
  const at::Tensor person = run_logits("densecrf", s.logits, s.image, with, names);
  const at::Tensor right = s.truth == 1;
  auto errors_in_person_region = [&](const at::Tensor& t) {
    return (t[0].argmax(0) != s.truth).logical_and(right).sum().item<int64_t>();
  };
  MESSAGE("person-region errors " << errors_in_person_region(plain) << " -> " << errors_in_person_region(person));
  CHECK(errors_in_person_region(person) * 10 < errors_in_person_region(plain));
  // The background label got no message: its log-probability gap to the
  // unary is what the person label took, never a reward of its own.
  CHECK(
      (person.select(1, 1) - person.select(1, 0) >= plain.select(1, 1) - plain.select(1, 0) - 1e-5).all().item<bool>());
}

TEST_CASE("densecrf explains bad parameters and inputs") {
  const NoisyScene s = noisy_scene(8, 8, 0.0, 8);
  auto message = [&](const std::map<std::string, ovseg::ParamValue>& p, at::Tensor image) {
    try {
      run_logits("densecrf", s.logits, image, p, {"background", "person"});
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message({{"class_override_names", std::vector<std::string>{"persn"}},
                 {"class_override_w_appearance", std::vector<double>{5.0}}},
                s.image)
            .find("'persn' is not among the logits' classes (background, person)") != std::string::npos);
  CHECK(message({{"class_override_names", std::vector<std::string>{"person"}},
                 {"class_override_w_appearance", std::vector<double>{5.0, 1.0}}},
                s.image)
            .find("one weight per name") != std::string::npos);
  CHECK(message({}, at::rand({2, 3, 8, 8})).find("(2, 3, 8, 8)") != std::string::npos);
  // A differently sized image is resized to the logits.
  CHECK(message({}, at::rand({1, 3, 16, 16})) == "no error");
}

TEST_CASE("the lattice refuses features beyond its 16-bit keys instead of crashing") {
  // More points than one parallel chunk (2048), so the refusal happens in the
  // parallel phase; huge and NaN features both used to index out of bounds.
  const int64_t n = 5000;
  for (const float big : {1e6f, 4e4f, std::nanf("")}) {
    std::vector<float> f(n * 2);
    for (int64_t i = 0; i < n; ++i) f[i * 2] = float(i % 50), f[i * 2 + 1] = float(i / 50);
    f[4321 * 2 + 1] = big;
    CHECK_THROWS_AS(dc::PermutohedralLattice(f.data(), n, 2), const dc::LatticeOverflow&);
  }
}

TEST_CASE("densecrf names the node and the theta that is too small for the image") {
  const NoisyScene s = noisy_scene(48, 48, 0.0, 9);
  auto message = [&](const std::map<std::string, ovseg::ParamValue>& p) {
    try {
      run_logits("densecrf", s.logits, s.image, p, {"background", "person"});
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // 47 px / 0.001 = 47000: beyond the lattice's keys, inside the parameter range.
  const std::string gamma = message({{"theta_gamma", 0.001}});
  CHECK(gamma.find("node 'under_test'") != std::string::npos);
  CHECK(gamma.find("positions / theta_gamma (theta_gamma = 0.001) reach 47000") != std::string::npos);
  const std::string alpha = message({{"theta_alpha", 0.001}, {"w_smoothness", 0.0}});
  CHECK(alpha.find("theta_alpha (theta_alpha = 0.001) reach 47000") != std::string::npos);
  CHECK(alpha.find("theta_beta") != std::string::npos);
  const std::string beta = message({{"theta_beta", 0.001}, {"w_smoothness", 0.0}});
  CHECK(beta.find("node 'under_test'") != std::string::npos);
  CHECK(beta.find("colours / theta_beta (theta_beta = 0.001)") != std::string::npos);
  // 0.01 on this image fits: supported, not refused.
  CHECK(message({{"theta_gamma", 0.01}, {"theta_alpha", 0.5}}) == "no error");
}
