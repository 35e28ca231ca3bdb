// `ovseg run` goes through the same inference path as `ovseg eval`: the
// pipeline's [protocol] (resize, sliding windows, stitching), `--whole` to
// run the graph once on the image as given; and large label maps are made
// strip by strip so an image far larger than the protocol's working size
// does not need K full-size logit maps at once.
#include <ATen/ATen.h>
#include <torch/version.h>

#include <opencv2/imgcodecs.hpp>

#include "foundation_util.hpp"
#include "ovseg/host/inference.hpp"
#include "ovseg/sdk/bilinear.hpp"
#include "ovseg/sdk/npy.hpp"
#include "ovseg/sdk/synonyms.hpp"

using namespace ovseg;
using namespace ovseg_test;

namespace {

const std::string kColourPipeline = kSourceDir + "/pipelines/colour_prototypes.toml";
const std::string kBeach = kSourceDir + "/pipelines/examples/beach.png";

cv::Mat read_labels(const std::string& path) { return cv::imread(path, cv::IMREAD_UNCHANGED); }

}  // namespace

TEST_CASE("ovseg run applies the pipeline's [protocol]; --whole runs the image as given") {
  TempDir dir;
  const std::string base = "run " + quoted(kColourPipeline) + " --image " + quoted(kBeach);
  const std::vector<CliResult> r = run_cli_batch({
      base + " --out " + quoted(dir.file("protocol")),
      base + " --out " + quoted(dir.file("whole")) + " --whole",
      base + " --out " + quoted(dir.file("as_whole")) + " --set protocol.mode=whole --set protocol.short_side=0",
  });
  for (const auto& x : r) {
    INFO(x.output);
    REQUIRE(x.exit_code == 0);
  }
  // beach.png is 320x240: short side 336 makes it 448x336, cut into 224
  // windows at stride 112 (2 rows x 3 columns), as eval would.
  CHECK(contains(r[0].output, "protocol: slide, short side 336 (long side <= 2048), 448x336 in 6 windows of 224"));
  CHECK(contains(r[1].output, "protocol: the whole image as given (--whole)"));
  const at::Tensor slide = read_npy(dir.file("protocol/logits.npy"));
  const at::Tensor whole = read_npy(dir.file("whole/logits.npy"));
  REQUIRE(slide.sizes() == at::IntArrayRef({6, 240, 320}));  // written at the image size either way
  REQUIRE(whole.sizes() == slide.sizes());
  CHECK_FALSE(slide.allclose(whole));  // the protocol really changed what ran
  // --whole is exactly the protocol that keeps the size and takes one window.
  CHECK(read_npy(dir.file("as_whole/logits.npy")).equal(whole));
  const cv::Mat a = read_labels(dir.file("whole/labels.png")), b = read_labels(dir.file("as_whole/labels.png"));
  REQUIRE(a.rows == 240);
  CHECK(cv::norm(a, b, cv::NORM_L1) == 0);
}

TEST_CASE("ovseg run on an image far beyond the pipeline's resolution: the protocol runs it, --whole names the OOM") {
  // 6000x6000 px: the weight-free pipeline's similarity smoothing over
  // 750x750 patch tokens needs a 562500^2 matrix when run whole; through the
  // protocol it works at 336x336. Flat colour blocks keep the PNG quick.
  TempDir dir;
  cv::Mat big(6000, 6000, CV_8UC3, cv::Scalar(240, 190, 135));  // sky (BGR)
  big.rowRange(3000, 6000).setTo(cv::Scalar(140, 204, 230));    // sand
  REQUIRE(cv::imwrite(dir.file("big.png"), big, {cv::IMWRITE_PNG_COMPRESSION, 1}));
  const std::string base = "run " + quoted(kColourPipeline) + " --image " + quoted(dir.file("big.png")) +
                           " --no-logits";
  const std::vector<CliResult> r = run_cli_batch(
      {base + " --out " + quoted(dir.file("o")), base + " --whole --out " + quoted(dir.file("w"))});
  {
    INFO(r[0].output);
    REQUIRE(r[0].exit_code == 0);
    const cv::Mat labels = read_labels(dir.file("o/labels.png"));
    REQUIRE(labels.rows == 6000);
    CHECK(labels.cols == 6000);
    CHECK(labels.at<uint8_t>(10, 10) == 0);      // sky
    CHECK(labels.at<uint8_t>(5990, 5990) == 2);  // sand
    CHECK_FALSE(fs::exists(dir.file("o/logits.npy")));
  }
  INFO(r[1].output);
  CHECK(r[1].exit_code == 1);
  CHECK(contains(r[1].output, "out of memory"));
  CHECK(contains(r[1].output, "node 'refine'"));
  CHECK_FALSE(contains(r[1].output, "std::bad_alloc\n"));
}

TEST_CASE("labels and logits at a large size are made strip by strip, equal to the direct resize") {
  at::manual_seed(5);
  const at::Tensor logits = at::randn({1, 5, 13, 17}) * 4;
  const std::vector<std::string> names = {"a", "b", "b", "c", "d"};  // a synonym pair
  const int64_t H = 61, W = 83;
  const at::Tensor direct = at::upsample_bilinear2d(logits, {H, W}, false);
  at::Tensor stitched = at::empty_like(direct);
  int strips = 0;
  // A budget of 3 output rows per strip.
  const int64_t budget = 3 * 5 * W * static_cast<int64_t>(sizeof(float));
  for_each_resized_strip(
      logits, H, W,
      [&](int64_t y0, const at::Tensor& s) {
        stitched.slice(2, y0, y0 + s.size(2)).copy_(s);
        ++strips;
      },
      budget);
  CHECK(strips == 21);
  CHECK((stitched - direct).abs().max().item<float>() < 1e-5f);
  int whole = 0;
  for_each_resized_strip(logits, H, W, [&](int64_t, const at::Tensor& s) {
    CHECK(s.equal(direct));
    ++whole;
  });
  CHECK(whole == 1);  // fits the default budget: one strip, the direct resize itself

  // Labels: plain argmax, and SCLIP's background knobs (the class areas of
  // area_thd summed over every strip before any is labelled).
  for (const auto& [prob_thd, area_thd] :
       std::vector<std::pair<double, double>>{{0, 0}, {0.45, 0}, {0, 0.2}, {0.4, 0.2}}) {
    CAPTURE(prob_thd);
    CAPTURE(area_thd);
    const at::Tensor expected = (prob_thd > 0 || area_thd > 0) ? background_labels(direct[0], prob_thd, area_thd, names)
                                                               : argmax_labels(direct, names).labels[0];
    const at::Tensor strip_labels = labels_at_size(logits, names, H, W, prob_thd, area_thd, budget);
    CHECK(strip_labels.sizes() == at::IntArrayRef({H, W}));
    CHECK(strip_labels.eq(expected).to(at::kFloat).mean().item<float>() > 0.995f);
    CHECK(labels_at_size(logits, names, H, W, prob_thd, area_thd).equal(expected));  // one strip: exact
  }
}

TEST_CASE("labels by class tiles equal the argmax of the whole resize, ties included, at every tile size") {
  // Rounded logits: many exact ties between classes, within and across tiles.
  at::Tensor logits = (at::randn({1, 11, 9, 7}) * 2).round();
  logits.select(1, 7).copy_(logits.select(1, 2));  // a whole class tied with an earlier one
  const std::vector<std::string> names = {"a", "b", "c", "b", "d", "e", "f", "g", "h", "a", "i"};  // synonyms too
  // Exact where resizing a tile of classes rounds as resizing all of them:
  // always on LibTorch 1.x, and on 2.x where ovseg's own kernel runs
  // (ovseg/sdk/bilinear.hpp). LibTorch 2.x's CPU resize rounds an output
  // value by where it falls in its vectorised loop, which moves with the
  // channel count, the output size (<= 128: another kernel) and the thread
  // count; where ovseg falls back to it, only pixels without a near-tie
  // (top two logits more than 1e-4 apart) are compared.
  std::vector<std::pair<int64_t, int64_t>> sizes = {{90, 70}, {31, 230}, {9, 7}, {31, 23}, {5, 40}};
  for (const auto& [H, W] : sizes) {
    const at::Tensor direct = at::upsample_bilinear2d(logits, {H, W}, false);
    const at::Tensor expected = argmax_labels(direct, names).labels[0];
    const at::Tensor query_best = direct.argmax(1)[0];
    const bool exact = TORCH_VERSION_MAJOR < 2 || (H + W > 128 && bilinear_kernel() != "aten");
    const at::Tensor top2 = std::get<0>(direct[0].topk(2, 0));
    const at::Tensor compared = exact ? at::ones({H, W}, at::kBool) : (top2[0] - top2[1]).gt(1e-4);
    const int64_t plane = H * W * static_cast<int64_t>(sizeof(float));
    for (int64_t tile : {1, 2, 3, 4, 10, 11, 100}) {
      CAPTURE(H);
      CAPTURE(tile);
      CAPTURE(exact);
      CHECK(
          argmax_at_size(logits, H, W, tile * plane).masked_select(compared).equal(query_best.masked_select(compared)));
      CHECK(labels_at_size(logits, names, H, W, 0, 0, tile * plane)
                .masked_select(compared)
                .equal(expected.masked_select(compared)));
    }
  }
  // Not trivial: the fixture has ties and the first maximum wins them.
  const at::Tensor same = at::upsample_bilinear2d(logits, {9, 7}, false)[0];
  CHECK((std::get<0>(same.max(0)).unsqueeze(0) == same).sum(0).gt(1).any().item<bool>());
}

TEST_CASE("NpyFloatWriter writes pieces in any order and removes an unfinished file") {
  TempDir dir;
  const at::Tensor full = at::arange(24, at::kFloat).view({2, 3, 4});
  {
    NpyFloatWriter w(dir.file("a.npy"), {2, 3, 4});
    w.write(12, full[1]);
    w.write(0, full[0]);
    w.commit();
  }
  CHECK(read_npy(dir.file("a.npy")).equal(full));
  {
    NpyFloatWriter w(dir.file("b.npy"), {2, 3, 4});
    w.write(0, full[0]);
    CHECK_THROWS_WITH_AS(w.commit(), doctest::Contains("incomplete .npy"), ovseg::Error);
  }
  {
    NpyFloatWriter w(dir.file("c.npy"), {2, 3, 4});
    w.write(0, full[0]);
  }
  CHECK_FALSE(fs::exists(dir.file("b.npy")));
  CHECK_FALSE(fs::exists(dir.file("c.npy")));
  CHECK_FALSE(fs::exists(dir.file("c.npy.tmp")));
}
