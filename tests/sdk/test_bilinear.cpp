// ovseg::resize_bilinear and ovseg::ResizedArgmax against ATen, bit for bit.
#include <ATen/ATen.h>
#include <doctest/doctest.h>
#include <torch/version.h>

#include <ovseg/sdk/bilinear.hpp>

#include <vector>

namespace {

struct Size {
  int64_t h, w, oh, ow;
};
// Up, down, mixed, unchanged in one axis, one row / column, and the
// harness's shapes (a 14 x 14 window map to 224; a stitched COCO canvas to
// its label size). Outputs with height + width <= 128 go to ATen (LibTorch
// 2.x has another kernel for them), the others to the fast kernel.
const std::vector<Size> kLarge = {{14, 14, 224, 224}, {336, 448, 480, 640}, {37, 53, 91, 70},
                                  {5, 7, 5, 131},     {17, 9, 1, 150},      {64, 48, 100, 60}};
const std::vector<Size> kSmall = {{37, 53, 91, 40}, {5, 7, 5, 11},    {17, 9, 1, 23},
                                  {1, 9, 6, 9},     {64, 48, 20, 20}, {3, 3, 3, 3}};

std::vector<Size> all_sizes() {
  std::vector<Size> all = kLarge;
  all.insert(all.end(), kSmall.begin(), kSmall.end());
  return all;
}

// The argmax reference is ATen's resize of all classes at once. LibTorch
// 2.x's small-output kernel rounds a channel by its position in the tensor
// (vectorised across channels), so a tile's resize differs from the whole
// one's there: those sizes are checked on 1.x only.
std::vector<Size> argmax_sizes() {
#if TORCH_VERSION_MAJOR >= 2
  return kLarge;
#else
  return all_sizes();
#endif
}

}  // namespace

TEST_CASE("bilinear: the fast kernel is in use on this machine") {
  // With Debian's LibTorch 1.13 on x86-64 with AVX2 + FMA (the machines this
  // project runs on) one candidate must match ATen; "aten" means the fast
  // path was lost. LibTorch 2.x's CPU resize rounds a value by where it falls
  // in its vectorised loop, which moves with the thread count (the 2.11
  // wheel here: matched with 2 threads, not with 1), so there the fallback
  // is legitimate and only reported.
#if defined(__x86_64__) && TORCH_VERSION_MAJOR < 2
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) CHECK(ovseg::bilinear_kernel() != "aten");
#endif
  MESSAGE("bilinear kernel: " << ovseg::bilinear_kernel());
}

TEST_CASE("bilinear: resize_bilinear equals at::upsample_bilinear2d bit for bit") {
  at::manual_seed(7);
  for (const Size& s : all_sizes()) {
    CAPTURE(s.h);
    CAPTURE(s.w);
    CAPTURE(s.oh);
    CAPTURE(s.ow);
    for (int64_t c : {2, 5}) {
      const at::Tensor x = at::randn({2, c, s.h, s.w}) * 30;
      CHECK(at::equal(ovseg::resize_bilinear(x, s.oh, s.ow), at::upsample_bilinear2d(x, {s.oh, s.ow}, false)));
    }
  }
  // A non-contiguous slice, one channel and channels-last (ATen's other
  // kernel): still ATen's result.
  const at::Tensor big = at::randn({1, 6, 20, 30});
  const at::Tensor slice = big.slice(1, 1, 4).slice(3, 2, 25);
  CHECK(at::equal(ovseg::resize_bilinear(slice, 141, 17), at::upsample_bilinear2d(slice, {141, 17}, false)));
  const at::Tensor one = big.slice(1, 0, 1);
  CHECK(at::equal(ovseg::resize_bilinear(one, 141, 17), at::upsample_bilinear2d(one, {141, 17}, false)));
  const at::Tensor last = big.contiguous(at::MemoryFormat::ChannelsLast);
  CHECK(at::equal(ovseg::resize_bilinear(last, 141, 17), at::upsample_bilinear2d(last, {141, 17}, false)));
  // A gradient is ATen's (training resizes logits too).
  const at::Tensor leaf = big.clone().requires_grad_(true);
  const at::Tensor resized = ovseg::resize_bilinear(leaf, 41, 17);
  REQUIRE(resized.requires_grad());
  resized.sum().backward();
  CHECK(leaf.grad().defined());
  // Not float: ATen's.
  const at::Tensor dbl = big.to(at::kDouble);
  CHECK(at::equal(ovseg::resize_bilinear(dbl, 41, 17), at::upsample_bilinear2d(dbl, {41, 17}, false)));
}

TEST_CASE("bilinear: ResizedArgmax equals argmax of the whole resize, tile by tile") {
  at::manual_seed(11);
  for (const Size& s : argmax_sizes()) {
    CAPTURE(s.h);
    CAPTURE(s.w);
    CAPTURE(s.oh);
    CAPTURE(s.ow);
    const int64_t k = 23;
    // Coarse values make ties between classes frequent.
    const at::Tensor maps = at::randint(0, 4, {1, k, s.h, s.w}).to(at::kFloat);
    const at::Tensor whole = at::upsample_bilinear2d(maps, {s.oh, s.ow}, false)[0];
    const at::Tensor expected = whole.argmax(0);
    // Where ATen resizes the tiles (LibTorch 2.x here, or the double maps
    // below on 2.x), its rounding moves with the channel count: compare the
    // pixels without a near-tie there (see "the fast kernel is in use").
    const at::Tensor top2 = std::get<0>(whole.topk(2, 0));
    const at::Tensor decided = (top2[0] - top2[1]).gt(1e-4);
    const auto same = [&](const at::Tensor& labels, bool exact) {
      return exact ? at::equal(labels, expected)
                   : at::equal(labels.masked_select(decided), expected.masked_select(decided));
    };
    const bool fast_exact = TORCH_VERSION_MAJOR < 2 || ovseg::bilinear_kernel() != "aten";
    for (int64_t tile : {1, 2, 7, 23}) {
      CAPTURE(tile);
      ovseg::ResizedArgmax best(s.oh, s.ow);
      for (int64_t k0 = 0; k0 < k; k0 += tile) best.add(maps.slice(1, k0, std::min(k, k0 + tile)), k0);
      const at::Tensor labels = best.labels();
      CHECK((labels.scalar_type() == at::kLong));
      CHECK(same(labels, fast_exact));
      // Double maps take the ATen path (resize in float, argmax, merge): the same labels.
      ovseg::ResizedArgmax slow(s.oh, s.ow);
      for (int64_t k0 = 0; k0 < k; k0 += tile) slow.add(maps.slice(1, k0, std::min(k, k0 + tile)).to(at::kDouble), k0);
      CHECK(same(slow.labels(), TORCH_VERSION_MAJOR < 2));
    }
  }
}

TEST_CASE("bilinear: ResizedArgmax on real-valued maps and with nothing added") {
  at::manual_seed(3);
  const at::Tensor maps = at::randn({40, 30, 44});
  ovseg::ResizedArgmax best(61, 97);
  best.add(maps.slice(0, 0, 25), 0);
  best.add(maps.slice(0, 25, 40), 25);
  CHECK(at::equal(best.labels(), at::upsample_bilinear2d(maps.unsqueeze(0), {61, 97}, false)[0].argmax(0)));
  // Real-valued maps: the first tile alone is also the whole resize's argmax of its classes.
  ovseg::ResizedArgmax part(61, 97);
  part.add(maps.slice(0, 0, 25), 0);
  CHECK(at::equal(part.labels(),
                  at::upsample_bilinear2d(maps.slice(0, 0, 25).unsqueeze(0), {61, 97}, false)[0].argmax(0)));
  CHECK_THROWS_WITH(ovseg::ResizedArgmax(4, 4).labels(), doctest::Contains("no class maps"));
  CHECK_THROWS_WITH(ovseg::ResizedArgmax(4, 4).add(at::zeros({4, 4}), 0), doctest::Contains("(C,h,w)"));
}
