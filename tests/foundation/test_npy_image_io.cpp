// .npy round trips, label/overlay PNGs, image loading and the palette.
#include <ATen/ATen.h>

#include <opencv2/imgcodecs.hpp>
#include <set>
#include <tuple>

#include "foundation_util.hpp"
#include "ovseg/host/image_io.hpp"
#include "ovseg/sdk/npy.hpp"

using namespace ovseg;
using namespace ovseg_test;

namespace {
at::Tensor round_trip(const TempDir& dir, const at::Tensor& t, const std::string& name) {
  const std::string path = dir.file(name);
  write_npy(path, t);
  CHECK_FALSE(fs::exists(path + ".tmp"));  // written through a temporary, renamed
  return read_npy(path);
}
}  // namespace

TEST_CASE("npy round trip keeps dtype, shape and values") {
  TempDir dir;
  SUBCASE("float32 (K,H,W)") {
    const at::Tensor t = at::randn({6, 5, 4}, at::kFloat);
    const at::Tensor back = round_trip(dir, t, "f32.npy");
    CHECK((back.scalar_type() == at::kFloat));
    CHECK(back.sizes() == at::IntArrayRef({6, 5, 4}));
    CHECK(back.equal(t));
  }
  SUBCASE("int64") {
    const at::Tensor t = at::arange(-5, 7, at::kLong).view({3, 4}) * static_cast<int64_t>(1000000007);
    const at::Tensor back = round_trip(dir, t, "i64.npy");
    CHECK((back.scalar_type() == at::kLong));
    CHECK(back.equal(t));
  }
  SUBCASE("uint8, 1-D") {
    const at::Tensor t = at::arange(0, 256, at::kLong).to(at::kByte);
    const at::Tensor back = round_trip(dir, t, "u8.npy");
    CHECK((back.scalar_type() == at::kByte));
    CHECK(back.sizes() == at::IntArrayRef({256}));
    CHECK(back.equal(t));
  }
  SUBCASE("float64 and int32") {
    const at::Tensor d = at::rand({2, 3}, at::kDouble);
    CHECK(round_trip(dir, d, "f64.npy").equal(d));
    const at::Tensor i = at::arange(0, 10, at::kInt).view({2, 5});
    CHECK(round_trip(dir, i, "i32.npy").equal(i));
  }
  SUBCASE("non-contiguous input is written in C order") {
    const at::Tensor t = at::arange(0, 12, at::kFloat).view({3, 4}).t();
    const at::Tensor back = round_trip(dir, t, "t.npy");
    CHECK(back.sizes() == at::IntArrayRef({4, 3}));
    CHECK(back.equal(t.contiguous()));
  }
}

TEST_CASE("npy files are what numpy writes: magic, header, 64-byte alignment") {
  TempDir dir;
  write_npy(dir.file("a.npy"), at::zeros({2, 3}, at::kFloat));
  const std::string bytes = read_file(dir.file("a.npy"));
  REQUIRE(bytes.size() > 10);
  CHECK(bytes.substr(0, 6) == "\x93NUMPY");
  CHECK(bytes[6] == 1);
  CHECK(bytes[7] == 0);
  const size_t header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
  CHECK((10 + header_len) % 64 == 0);
  const std::string header = bytes.substr(10, header_len);
  CHECK(contains(header, "'descr': '<f4'"));
  CHECK(contains(header, "'fortran_order': False"));
  CHECK(contains(header, "'shape': (2,3)"));
  CHECK(header.back() == '\n');
  CHECK(bytes.size() == 10 + header_len + 6 * 4);

  write_npy(dir.file("b.npy"), at::zeros({5}, at::kLong));
  CHECK(contains(read_file(dir.file("b.npy")), "'shape': (5,)"));
}

TEST_CASE("npy errors name the file") {
  TempDir dir;
  SUBCASE("missing") {
    const Error e = catch_error([&] { read_npy(dir.file("none.npy")); });
    CHECK(e.where().file == dir.file("none.npy"));
    CHECK(contains(e.what(), "cannot open .npy file"));
  }
  SUBCASE("bad magic") {
    write_file(dir.file("bad.npy"), "PK\x03\x04 this is a zip");
    CHECK(contains(catch_error([&] { read_npy(dir.file("bad.npy")); }).what(), "bad magic"));
  }
  SUBCASE("truncated data") {
    write_npy(dir.file("t.npy"), at::zeros({100}, at::kFloat));
    std::string bytes = read_file(dir.file("t.npy"));
    write_file(dir.file("t.npy"), bytes.substr(0, bytes.size() - 10));
    CHECK(contains(catch_error([&] { read_npy(dir.file("t.npy")); }).what(), "truncated .npy data"));
  }
  SUBCASE("unsupported dtype") {
    const Error e = catch_error([&] { write_npy(dir.file("b.npy"), at::zeros({2}, at::kBool)); });
    CHECK(contains(e.what(), "cannot write dtype"));
    CHECK_FALSE(fs::exists(dir.file("b.npy")));
  }
  SUBCASE("folder missing") { CHECK_THROWS_AS(write_npy(dir.file("no/such/dir/x.npy"), at::zeros({2})), Error); }
}

TEST_CASE("write_label_png: 8-bit when every index < 256, else 16-bit") {
  TempDir dir;
  SUBCASE("8-bit") {
    at::Tensor labels = at::arange(0, 256, at::kLong).view({16, 16});
    write_label_png(dir.file("l8.png"), labels.unsqueeze(0));  // (1,H,W) is accepted
    const cv::Mat m = cv::imread(dir.file("l8.png"), cv::IMREAD_UNCHANGED);
    REQUIRE_FALSE(m.empty());
    CHECK(m.type() == CV_8UC1);
    CHECK(m.cols == 16);
    CHECK(m.rows == 16);
    CHECK(m.at<uint8_t>(0, 0) == 0);
    CHECK(m.at<uint8_t>(0, 5) == 5);
    CHECK(m.at<uint8_t>(15, 15) == 255);
    CHECK(m.at<uint8_t>(2, 3) == 35);  // row-major
  }
  SUBCASE("16-bit") {
    at::Tensor labels = at::zeros({3, 4}, at::kLong);
    labels[1][2] = 300;
    labels[2][3] = 65535;
    write_label_png(dir.file("l16.png"), labels);
    const cv::Mat m = cv::imread(dir.file("l16.png"), cv::IMREAD_UNCHANGED);
    REQUIRE_FALSE(m.empty());
    CHECK(m.type() == CV_16UC1);
    CHECK(m.at<uint16_t>(1, 2) == 300);
    CHECK(m.at<uint16_t>(2, 3) == 65535);
    CHECK(m.at<uint16_t>(0, 0) == 0);
  }
  SUBCASE("negative indices are refused") {
    at::Tensor labels = at::zeros({2, 2}, at::kLong);
    labels[0][0] = -1;
    CHECK(contains(catch_error([&] { write_label_png(dir.file("n.png"), labels); }).what(), "negative"));
  }
}

TEST_CASE("palette: class 0 is black, classes 1..20 are distinct colours (VOC)") {
  uint8_t rgb[3];
  palette_rgb(0, rgb);
  CHECK((rgb[0] == 0 && rgb[1] == 0 && rgb[2] == 0));
  palette_rgb(1, rgb);
  CHECK((rgb[0] == 128 && rgb[1] == 0 && rgb[2] == 0));  // VOC aeroplane
  palette_rgb(15, rgb);
  CHECK((rgb[0] == 192 && rgb[1] == 128 && rgb[2] == 128));  // VOC person
  std::set<std::tuple<int, int, int>> seen;
  for (int64_t k = 0; k <= 20; ++k) {
    palette_rgb(k, rgb);
    seen.insert({rgb[0], rgb[1], rgb[2]});
  }
  CHECK(seen.size() == 21);
}

TEST_CASE("load_image gives (1,3,H,W) RGB in [0,1]; overlay and colour labels are written") {
  TempDir dir;
  cv::Mat bgr(2, 3, CV_8UC3, cv::Scalar(0, 0, 0));
  bgr.at<cv::Vec3b>(0, 0) = cv::Vec3b(0, 0, 255);  // red
  bgr.at<cv::Vec3b>(1, 2) = cv::Vec3b(255, 0, 0);  // blue
  bgr.at<cv::Vec3b>(0, 1) = cv::Vec3b(0, 51, 0);   // green 0.2
  REQUIRE(cv::imwrite(dir.file("img.png"), bgr));

  const at::Tensor img = load_image(dir.file("img.png"));
  REQUIRE(img.sizes() == at::IntArrayRef({1, 3, 2, 3}));
  CHECK((img.scalar_type() == at::kFloat));
  CHECK(img[0][0][0][0].item<float>() == 1.0f);  // R of the red pixel
  CHECK(img[0][2][0][0].item<float>() == 0.0f);
  CHECK(img[0][2][1][2].item<float>() == 1.0f);  // B of the blue pixel
  CHECK(img[0][1][0][1].item<float>() == doctest::Approx(0.2));

  at::Tensor labels = at::tensor({0, 1, 2, 0, 0, 15}, at::kLong).view({2, 3});
  write_overlay_png(dir.file("overlay.png"), img[0], labels, 1.0);  // alpha 1: pure palette
  const cv::Mat ov = cv::imread(dir.file("overlay.png"), cv::IMREAD_UNCHANGED);
  REQUIRE_FALSE(ov.empty());
  CHECK(ov.type() == CV_8UC3);
  CHECK(ov.at<cv::Vec3b>(0, 1) == cv::Vec3b(0, 0, 128));      // class 1, BGR
  CHECK(ov.at<cv::Vec3b>(1, 2) == cv::Vec3b(128, 128, 192));  // class 15, BGR

  write_overlay_png(dir.file("half.png"), img[0], labels, 0.0);  // alpha 0: the image
  CHECK(cv::imread(dir.file("half.png")).at<cv::Vec3b>(0, 0) == cv::Vec3b(0, 0, 255));

  write_color_labels_png(dir.file("colour.png"), labels);
  CHECK(cv::imread(dir.file("colour.png")).at<cv::Vec3b>(0, 2) == cv::Vec3b(0, 128, 0));  // class 2

  // Mismatched sizes are refused.
  CHECK_THROWS(write_overlay_png(dir.file("bad.png"), img[0], at::zeros({3, 3}, at::kLong)));
}

TEST_CASE("load_image errors name the file") {
  TempDir dir;
  const Error missing = catch_error([&] { load_image(dir.file("none.png")); });
  CHECK(missing.where().file == dir.file("none.png"));
  CHECK(contains(missing.what(), "image file not found"));
  write_file(dir.file("bad.png"), "not a png");
  CHECK(contains(catch_error([&] { load_image(dir.file("bad.png")); }).what(), "cannot decode image"));
}
