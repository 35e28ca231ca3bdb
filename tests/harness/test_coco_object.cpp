#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <opencv2/core.hpp>

#include "ovseg/harness/class_names.hpp"
#include "ovseg/harness/coco_mask.hpp"
#include "ovseg/harness/coco_object.hpp"
#include "ovseg/harness/dataset.hpp"

using namespace ovseg::harness;
namespace fs = std::filesystem;

namespace {
const std::string kCocoDir = std::string(OVSEG_SHARED_DATA) + "/coco-object-val2017-mini";
const std::string kJson = kCocoDir + "/instances_val2017_mini.json";

struct Reference {
  std::map<std::int64_t, std::uint64_t> ann_area;
  std::map<std::int64_t, std::string> crowd_string;
  std::map<std::string, std::map<int, std::int64_t>> histogram;
};

const Reference& reference() {
  static const Reference ref = [] {
    Reference r;
    std::ifstream f(std::string(OVSEG_HARNESS_TEST_DATA) + "/coco_object_mini_reference.txt");
    REQUIRE(f);
    std::string line;
    while (std::getline(f, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream in(line);
      std::string kind;
      in >> kind;
      if (kind == "ann") {
        std::int64_t id;
        std::uint64_t a;
        in >> id >> a;
        r.ann_area[id] = a;
      } else if (kind == "str") {
        std::int64_t id;
        int h, w;
        std::string s;
        in >> id >> h >> w >> s;
        r.crowd_string[id] = s;
      } else if (kind == "img") {
        std::string stem, pair;
        in >> stem;
        while (in >> pair) {
          const auto c = pair.find(':');
          r.histogram[stem][std::stoi(pair.substr(0, c))] = std::stoll(pair.substr(c + 1));
        }
      }
    }
    return r;
  }();
  return ref;
}

double shoelace(const std::vector<double>& xy) {
  const std::size_t k = xy.size() / 2;
  double s = 0;
  for (std::size_t i = 0; i < k; ++i) {
    const std::size_t j = (i + 1) % k;
    s += xy[2 * i] * xy[2 * j + 1] - xy[2 * j] * xy[2 * i + 1];
  }
  return std::abs(s) / 2;
}
}  // namespace

TEST_CASE("RLE codec: decode/encode and the compressed string round trip") {
  cv::Mat m = cv::Mat::zeros(7, 5, CV_8UC1);
  m(cv::Rect(1, 2, 3, 4)).setTo(1);
  m.at<std::uint8_t>(0, 0) = 1;
  const auto r = coco::rle_encode(m);
  CHECK(r.counts.front() == 0);  // starts with a (here empty) run of zeros
  CHECK(coco::rle_area(r) == 13);
  CHECK(cv::countNonZero(coco::rle_decode(r) != m) == 0);
  const auto s = coco::rle_to_string(r);
  const auto back = coco::rle_from_string(s, 7, 5);
  CHECK(back.counts == r.counts);
  CHECK_THROWS(coco::rle_from_string("\x01", 7, 5));

  // Box [1,1,2,2] rasterises to the 2x2 pixels (1..2, 1..2), as in pycocotools.
  const double bb[4] = {1, 1, 2, 2};
  const auto box = coco::rle_from_bbox(bb, 5, 5);
  const cv::Mat bm = coco::rle_decode(box);
  CHECK(coco::rle_area(box) == 4);
  CHECK(bm.at<std::uint8_t>(1, 1) == 1);
  CHECK(bm.at<std::uint8_t>(2, 2) == 1);
  CHECK(bm.at<std::uint8_t>(3, 3) == 0);

  const auto u = coco::rle_merge({coco::rle_from_bbox(bb, 5, 5), coco::rle_encode(m(cv::Rect(0, 0, 5, 5)).clone())});
  CHECK(coco::rle_area(u) ==
        4 + cv::countNonZero(m(cv::Rect(0, 0, 5, 5))) - cv::countNonZero(bm & m(cv::Rect(0, 0, 5, 5))));
  const auto in = coco::rle_merge({coco::rle_from_bbox(bb, 5, 5), coco::rle_encode(m(cv::Rect(0, 0, 5, 5)).clone())},
                                  true);
  CHECK(coco::rle_area(in) == static_cast<std::uint64_t>(cv::countNonZero(bm & m(cv::Rect(0, 0, 5, 5)))));
  CHECK(cv::countNonZero(coco::rle_decode(in) != (bm & m(cv::Rect(0, 0, 5, 5)))) == 0);
  CHECK(cv::countNonZero(coco::rle_decode(u) != (bm | m(cv::Rect(0, 0, 5, 5)))) == 0);
}

TEST_CASE("COCO instance JSON: categories, images, annotations") {
  const auto coco = CocoInstances::load(kJson);
  CHECK(coco.images.size() == 164);
  CHECK(coco.annotations.size() == 1560);
  REQUIRE(coco.categories.size() == 80);
  CHECK(coco.categories.front().id == 1);
  CHECK(coco.categories.back().id == 90);
  // Every category id maps to 1..80 in id order, matching SCLIP's names.
  const auto names = builtin_class_names("coco_object");
  REQUIRE(names.size() == 81);
  for (std::size_t i = 0; i < coco.categories.size(); ++i) {
    CHECK(coco.contiguous_label(coco.categories[i].id) == static_cast<int>(i) + 1);
    CHECK(names[i + 1].front() == coco.categories[i].name);
  }
  CHECK_THROWS_WITH(coco.contiguous_label(12), doctest::Contains("unknown category id 12"));
}

TEST_CASE("COCO rasterisation is pixel-identical to pycocotools on the real JSON") {
  const auto coco = CocoInstances::load(kJson);
  const auto& ref = reference();
  REQUIRE(ref.ann_area.size() == coco.annotations.size());
  std::map<std::int64_t, std::size_t> image_of;
  for (std::size_t i = 0; i < coco.images.size(); ++i) image_of[coco.images[i].id] = i;

  std::size_t checked = 0, crowd = 0;
  double single_poly_err = 0, single_poly_area = 0;
  for (const auto& a : coco.annotations) {
    const auto& im = coco.images[image_of.at(a.image_id)];
    const auto r = annotation_to_rle(a, im.height, im.width);
    INFO("annotation " << a.id);
    CHECK(coco::rle_area(r) == ref.ann_area.at(a.id));
    ++checked;
    if (a.iscrowd) {
      ++crowd;
      REQUIRE(a.segmentation.kind == CocoSegmentation::Kind::UncompressedRle);
      // Compressed string RLE: pycocotools' string for this mask decodes to
      // the same counts, and our encoder writes the same string.
      const auto& s = ref.crowd_string.at(a.id);
      CHECK(coco::rle_to_string(r) == s);
      CHECK(coco::rle_from_string(s, r.h, r.w).counts == r.counts);
      CocoAnnotation c = a;
      c.segmentation.kind = CocoSegmentation::Kind::CompressedRle;
      c.segmentation.compressed = s;
      CHECK(coco::rle_area(annotation_to_rle(c, im.height, im.width)) == ref.ann_area.at(a.id));
    } else if (a.segmentation.polygons.size() == 1) {
      const double poly = shoelace(a.segmentation.polygons[0]);
      single_poly_err += std::abs(static_cast<double>(coco::rle_area(r)) - poly);
      single_poly_area += poly;
      // The JSON "area" of a polygon is its polygon area.
      CHECK(a.area == doctest::Approx(poly).epsilon(0.01));
    }
  }
  CHECK(checked == 1560);
  CHECK(crowd == 17);
  // Rasterised pixel counts track the polygon areas closely overall.
  CHECK(single_poly_err / single_poly_area < 0.1);
}

TEST_CASE("COCO-Object label maps match the pycocotools reference") {
  const auto ds = make_dataset("coco_object", kCocoDir, "val");
  REQUIRE(ds->size() == 164);
  CHECK(ds->num_classes() == 81);
  CHECK(ds->has_images());
  const auto& ref = reference();
  std::int64_t labelled = 0;
  for (std::size_t i = 0; i < ds->size(); ++i) {
    const auto s = ds->sample(i, i < 3);
    INFO("image " << s.id);
    REQUIRE(s.label.type() == CV_32SC1);
    std::map<int, std::int64_t> h;
    for (int y = 0; y < s.label.rows; ++y)
      for (int x = 0; x < s.label.cols; ++x) ++h[s.label.at<std::int32_t>(y, x)];
    CHECK(h == ref.histogram.at(s.id));
    CHECK(h.rbegin()->first <= 80);
    labelled += static_cast<std::int64_t>(s.label.total()) - (h.count(0) ? h[0] : 0);
    if (i < 3) CHECK(s.image.size() == s.label.size());
  }
  CHECK(labelled > 0);
}

TEST_CASE("COCO-Object crowd policies") {
  const auto coco = CocoInstances::load(kJson);
  std::size_t idx = coco.images.size();
  for (std::size_t i = 0; i < coco.images.size() && idx == coco.images.size(); ++i)
    for (auto ai : coco.images[i].annotations)
      if (coco.annotations[ai].iscrowd) idx = i;
  REQUIRE(idx < coco.images.size());
  const cv::Mat bg = rasterize_coco_object(coco, idx, CrowdPolicy::Background);
  const cv::Mat ig = rasterize_coco_object(coco, idx, CrowdPolicy::Ignore);
  const cv::Mat lb = rasterize_coco_object(coco, idx, CrowdPolicy::Label);
  CHECK(cv::countNonZero(bg == 255) == 0);
  CHECK(cv::countNonZero(ig == 255) > 0);
  CHECK(cv::countNonZero(lb == 255) == 0);
  CHECK(cv::countNonZero(lb != bg) <= cv::countNonZero(ig == 255));
  CHECK(cv::countNonZero(lb != bg) > 0);
  CHECK(parse_crowd_policy("ignore") == CrowdPolicy::Ignore);
  CHECK_THROWS_AS(parse_crowd_policy("nope"), std::invalid_argument);
}

TEST_CASE("COCO JSON with a compressed RLE and a box-shaped segmentation") {
  const fs::path dir = fs::temp_directory_path() / "ovseg_harness_coco_rle";
  fs::remove_all(dir);
  fs::create_directories(dir / "images");
  cv::Mat m = cv::Mat::zeros(4, 6, CV_8UC1);
  m(cv::Rect(3, 0, 2, 3)).setTo(1);
  const std::string counts = coco::rle_to_string(coco::rle_encode(m));
  std::string escaped;
  for (char c : counts) {
    if (c == '\\' || c == '"') escaped.push_back('\\');
    escaped.push_back(c);
  }
  std::ofstream(dir / "instances_val2017.json") << R"({"images":[{"id":5,"file_name":"x.jpg","height":4,"width":6}],
             "categories":[{"id":3,"name":"car"},{"id":1,"name":"person"}],
             "annotations":[
               {"id":1,"image_id":5,"category_id":1,"iscrowd":0,"segmentation":[[0,0,2,2]]},
               {"id":2,"image_id":5,"category_id":3,"iscrowd":0,
                "segmentation":{"size":[4,6],"counts":")"
                                                << escaped << R"("}}]})";
  const auto coco = CocoInstances::load((dir / "instances_val2017.json").string());
  CHECK(coco.contiguous_label(1) == 1);
  CHECK(coco.contiguous_label(3) == 2);
  const cv::Mat lab = rasterize_coco_object(coco, 0);
  // [0,0,2,2] is a box (4 numbers): pixels x,y in 0..1 -> person.
  CHECK(cv::countNonZero(lab == 1) == 4);
  CHECK(lab.at<std::int32_t>(1, 1) == 1);
  CHECK(cv::countNonZero(lab == 2) == 6);
  CHECK(cv::countNonZero((lab == 2) != (m * 255)) == 0);
  fs::remove_all(dir);
}

TEST_CASE("COCO-Object errors name the file") {
  const fs::path dir = fs::temp_directory_path() / "ovseg_harness_coco_err";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto write = [&](const std::string& text) { std::ofstream(dir / "instances_val2017.json") << text; };
  write(R"({"images":[{"id":1,"file_name":"a.jpg","height":4,"width":4}],
            "categories":[{"id":1,"name":"person"}],
            "annotations":[{"id":7,"image_id":1,"category_id":3,"iscrowd":0,
                            "segmentation":[[0,0,3,0,3,3]]}]})");
  CHECK_THROWS_WITH(CocoInstances::load((dir / "instances_val2017.json").string()),
                    doctest::Contains("annotation 7 has unknown category id 3"));
  CHECK_THROWS_WITH(CocoInstances::load((dir / "instances_val2017.json").string()),
                    doctest::Contains("instances_val2017.json"));
  write("{not json");
  CHECK_THROWS_WITH(CocoInstances::load((dir / "instances_val2017.json").string()), doctest::Contains("invalid JSON"));
  fs::remove(dir / "instances_val2017.json");
  CHECK_THROWS_WITH(make_dataset("coco_object", dir.string()), doctest::Contains("instances_val2017.json"));
  fs::remove_all(dir);
}
