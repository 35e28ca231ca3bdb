#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "ovseg/harness/class_names.hpp"
#include "ovseg/harness/dataset.hpp"
#include "ovseg/harness/label_io.hpp"

using namespace ovseg::harness;
namespace fs = std::filesystem;

namespace {
const std::string kData = OVSEG_SHARED_DATA;

std::map<int, std::int64_t> histogram(const cv::Mat& m) {
  std::map<int, std::int64_t> h;
  for (int y = 0; y < m.rows; ++y)
    for (int x = 0; x < m.cols; ++x) ++h[m.at<std::int32_t>(y, x)];
  return h;
}

std::size_t index_of(const Dataset& ds, const std::string& id) {
  for (std::size_t i = 0; i < ds.size(); ++i)
    if (ds.id(i) == id) return i;
  FAIL("id " << id << " not found");
  return 0;
}

// A scratch folder removed at scope exit.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name) : path(fs::temp_directory_path() / ("ovseg_harness_" + name)) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path operator/(const std::string& s) const { return path / s; }
};

void write_image(const fs::path& p, int w, int h) {
  fs::create_directories(p.parent_path());
  cv::Mat img(h, w, CV_8UC3, cv::Scalar(10, 20, 30));
  REQUIRE(cv::imwrite(p.string(), img));
}
void write_label(const fs::path& p, const cv::Mat& m) {
  fs::create_directories(p.parent_path());
  write_label_png(p.string(), m);
}
}  // namespace

TEST_CASE("class-name files: counts of every built-in list") {
  const std::map<std::string, std::size_t> expected = {
      {"voc21", 21},       {"voc20", 20},       {"context59", 59},        {"context60", 60},
      {"coco_object", 81}, {"coco_stuff", 171}, {"ade20k", 150},          {"cityscapes", 19},
      {"lip", 20},         {"cihp", 20},        {"pascal_person_part", 7}};
  for (const auto& [key, n] : expected) {
    INFO(key);
    CHECK(builtin_class_names(key).size() == n);
  }
  CHECK(builtin_class_name_keys().size() == expected.size());
  // VOC21's first line is a background word list.
  const auto voc = builtin_class_names("voc21");
  CHECK(voc[0].size() > 5);
  CHECK(voc[0][0] == "sky");
  CHECK(voc[1] == std::vector<std::string>{"aeroplane"});
  CHECK(builtin_class_names("coco_object")[1].front() == "person");
  CHECK(builtin_class_names("lip")[5].front() == "upper clothes");
  // The compiled-in text is exactly the shared file.
  for (const auto& [key, file] : std::map<std::string, std::string>{{"voc21", "cls_voc21.txt"},
                                                                    {"ade20k", "cls_ade20k.txt"},
                                                                    {"cityscapes", "cls_city_scapes.txt"}}) {
    const std::string path = kData + "/class-names/" + file;
    if (!fs::exists(path)) continue;
    CHECK(load_class_names(path) == builtin_class_names(key));
  }
  CHECK_THROWS_AS(builtin_class_names("nope"), std::out_of_range);
  CHECK_THROWS_WITH(load_class_names("/nonexistent/cls.txt"), doctest::Contains("/nonexistent/cls.txt"));
  CHECK_THROWS_WITH(parse_class_names("a\nb,,c\n", "f.txt"), doctest::Contains("f.txt:2"));
  CHECK_THROWS_WITH(check_class_count(parse_class_names("a\nb\n", "x.txt"), 3, "x.txt"),
                    doctest::Contains("x.txt: 2 classes, expected 3"));
  CHECK(parse_class_names(" a , b \n\nc", "t") == ClassNames{{"a", "b"}, {"c"}});
}

TEST_CASE("registry") {
  CHECK(dataset_names().size() == 12);
  CHECK(canonical_dataset_name("voc") == "voc21");
  CHECK(canonical_dataset_name("city_scapes") == "cityscapes");
  CHECK(dataset_num_classes("ade") == 150);
  CHECK(dataset_num_classes("pascal_person_part") == 7);
  CHECK_THROWS_WITH_AS(make_dataset("imagenet", "/tmp"), doctest::Contains("unknown dataset 'imagenet'"),
                       std::invalid_argument);
  CHECK_THROWS_WITH(make_dataset("ade20k", "/nonexistent/ade"), doctest::Contains("/nonexistent/ade"));
}

TEST_CASE("VOC21 on the real val labels: palette indices, 2007_000033") {
  const auto ds = make_dataset("voc21", kData + "/voc2012-val-gt");
  CHECK(ds->size() == 1449);
  CHECK(ds->num_classes() == 21);
  CHECK(ds->ignore_index() == 255);
  CHECK_FALSE(ds->has_images());
  const auto i = index_of(*ds, "2007_000033");
  const auto s = ds->sample(i);
  CHECK(s.label.size() == cv::Size(500, 366));
  const auto h = histogram(s.label);
  CHECK(h.size() == 3);
  CHECK(h.at(0) == 143868);
  CHECK(h.at(1) == 30937);
  CHECK(h.at(255) == 8195);
  // No JPEGs in this folder: asking for the image names the missing file.
  CHECK_THROWS_WITH(ds->sample(i, true), doctest::Contains("JPEGImages/2007_000033.jpg"));
  CHECK_THROWS_AS(ds->sample(ds->size()), std::out_of_range);
  // A few more files read cleanly (values validated inside sample()).
  for (std::size_t k = 0; k < ds->size(); k += 97) CHECK_NOTHROW(ds->sample(k));
}

TEST_CASE("VOC20 drops the background") {
  const auto ds = make_dataset("voc20", kData + "/voc2012-val-gt");
  CHECK(ds->num_classes() == 20);
  const auto h = histogram(ds->sample(index_of(*ds, "2007_000033")).label);
  CHECK(h.size() == 2);
  CHECK(h.at(0) == 30937);            // aeroplane is class 0 now
  CHECK(h.at(255) == 143868 + 8195);  // background joins void
}

TEST_CASE("ADE20K sample: reduce zero label") {
  const std::string root = kData + "/ade20k-val-sample";
  const auto ds = make_dataset("ade20k", root);
  REQUIRE(ds->size() == 3);
  CHECK(ds->num_classes() == 150);
  CHECK(ds->class_names()[0].front() == "wall");
  for (std::size_t i = 0; i < ds->size(); ++i) {
    const auto s = ds->sample(i, true);
    CHECK(s.image.size() == s.label.size());
    CHECK(s.image.type() == CV_8UC3);
    const cv::Mat raw = read_label_png(s.label_path);
    REQUIRE(raw.size() == s.label.size());
    int zeros = 0, wrong = 0, too_big = 0;
    for (int y = 0; y < raw.rows; ++y)
      for (int x = 0; x < raw.cols; ++x) {
        const int r = raw.at<std::int32_t>(y, x), v = s.label.at<std::int32_t>(y, x);
        if (r > 150) ++too_big;
        if (r == 0) ++zeros;
        if (v != (r == 0 ? 255 : r - 1)) ++wrong;
      }
    CHECK(too_big == 0);
    CHECK(wrong == 0);
    CHECK(zeros < static_cast<int>(raw.total()));
  }
  CHECK(ds->id(0) == "ADE_val_00000001");
}

TEST_CASE("CIHP sample: 20 classes, labels within 0..19") {
  const auto ds = make_dataset("cihp", kData + "/cihp-val-sample");
  REQUIRE(ds->size() == 5);
  CHECK(ds->num_classes() == 20);
  CHECK(ds->class_names()[0].front() == "background");
  std::set<int> seen;
  for (std::size_t i = 0; i < ds->size(); ++i) {
    const auto s = ds->sample(i, true);
    CHECK(s.image.size() == s.label.size());
    double lo, hi;
    cv::minMaxLoc(s.label, &lo, &hi);
    CHECK(lo >= 0);
    CHECK(hi <= 19);
    for (const auto& [v, n] : histogram(s.label)) seen.insert(v);
  }
  CHECK(seen.count(0) == 1);
  CHECK(seen.size() > 3);
}

TEST_CASE("Cityscapes labelIds -> trainIds (synthetic tree)") {
  TempDir t("city");
  cv::Mat ids = (cv::Mat_<std::uint8_t>(2, 4) << 7, 26, 0, 33, 24, 1, 255, 34);
  write_label(t / "gtFine/val/aachen/aachen_000000_000019_gtFine_labelIds.png", ids);
  write_image(t / "leftImg8bit/val/aachen/aachen_000000_000019_leftImg8bit.png", 4, 2);
  const auto ds = make_dataset("cityscapes", t.path.string());
  REQUIRE(ds->size() == 1);
  CHECK(ds->id(0) == "aachen/aachen_000000_000019");
  const auto s = ds->sample(0, true);
  const cv::Mat expect = (cv::Mat_<std::int32_t>(2, 4) << 0, 13, 255, 18, 11, 255, 255, 255);
  CHECK(cv::countNonZero(s.label != expect) == 0);
}

TEST_CASE("PASCAL Context 59/60, COCO-Stuff 171, LIP, Person-Part (synthetic trees)") {
  TempDir t("misc");
  // Context: mmseg layout with a split list.
  cv::Mat ctx = (cv::Mat_<std::uint8_t>(1, 3) << 0, 1, 59);
  write_label(t / "VOCdevkit/VOC2010/SegmentationClassContext/2008_000001.png", ctx);
  write_image(t / "VOCdevkit/VOC2010/JPEGImages/2008_000001.jpg", 3, 1);
  fs::create_directories(t / "VOCdevkit/VOC2010/ImageSets/SegmentationContext");
  std::ofstream(t / "VOCdevkit/VOC2010/ImageSets/SegmentationContext/val.txt") << "2008_000001\n";
  const auto c60 = make_dataset("context60", t.path.string());
  const auto c59 = make_dataset("context59", t.path.string());
  CHECK(c60->num_classes() == 60);
  CHECK(c59->num_classes() == 59);
  const cv::Mat l60 = c60->sample(0, true).label, l59 = c59->sample(0).label;
  CHECK(l60.at<std::int32_t>(0, 0) == 0);
  CHECK(l60.at<std::int32_t>(0, 2) == 59);
  CHECK(l59.at<std::int32_t>(0, 0) == 255);
  CHECK(l59.at<std::int32_t>(0, 1) == 0);
  CHECK(l59.at<std::int32_t>(0, 2) == 58);

  // COCO-Stuff 164k (mmseg's labelTrainIds).
  cv::Mat st = (cv::Mat_<std::uint8_t>(1, 3) << 0, 170, 255);
  write_label(t / "stuff/annotations/val2017/000000000139_labelTrainIds.png", st);
  write_image(t / "stuff/images/val2017/000000000139.jpg", 3, 1);
  const auto stuff = make_dataset("coco_stuff171", (t / "stuff").string());
  CHECK(stuff->num_classes() == 171);
  CHECK(stuff->id(0) == "000000000139");
  CHECK(histogram(stuff->sample(0, true).label) == std::map<int, std::int64_t>{{0, 1}, {170, 1}, {255, 1}});
  // A value past the class range is reported with the file.
  cv::Mat bad = (cv::Mat_<std::uint8_t>(1, 3) << 0, 171, 255);
  write_label(t / "stuff/annotations/val2017/000000000139_labelTrainIds.png", bad);
  CHECK_THROWS_WITH(stuff->sample(0), doctest::Contains("000000000139_labelTrainIds.png has value 171"));

  // LIP official layout with its id list.
  cv::Mat lip = (cv::Mat_<std::uint8_t>(1, 2) << 0, 19);
  write_label(t / "lip/TrainVal_parsing_annotations/val_segmentations/100034_483681.png", lip);
  write_image(t / "lip/TrainVal_images/val_images/100034_483681.jpg", 2, 1);
  std::ofstream(t / "lip/val_id.txt") << "100034_483681\n";
  const auto l = make_dataset("lip", (t / "lip").string());
  CHECK(l->num_classes() == 20);
  CHECK(l->sample(0, true).label.at<std::int32_t>(0, 1) == 19);

  // PASCAL-Person-Part.
  cv::Mat ppp = (cv::Mat_<std::uint8_t>(1, 2) << 0, 6);
  write_label(t / "ppp/SegmentationPart/2008_000003.png", ppp);
  write_image(t / "ppp/JPEGImages/2008_000003.jpg", 2, 1);
  write_image(t / "ppp/JPEGImages/2008_000004.jpg", 2, 1);  // not in the list: fine
  fs::create_directories(t / "ppp/list");
  std::ofstream(t / "ppp/list/val_id.txt") << "2008_000003\n";
  const auto p = make_dataset("pascal_person_part", (t / "ppp").string());
  CHECK(p->num_classes() == 7);
  CHECK(p->size() == 1);
  CHECK(p->sample(0, true).label.at<std::int32_t>(0, 1) == 6);
  cv::Mat ppp_bad = (cv::Mat_<std::uint8_t>(1, 2) << 0, 7);
  write_label(t / "ppp/SegmentationPart/2008_000003.png", ppp_bad);
  CHECK_THROWS_WITH(p->sample(0), doctest::Contains("has value 7"));
}

TEST_CASE("missing and mismatched files give errors naming the file") {
  TempDir t("errors");
  const cv::Mat lab = cv::Mat::zeros(4, 5, CV_8UC1);
  // Flat CIHP-like layout: label/image size mismatch.
  write_label(t / "a/labels/x.png", lab);
  write_image(t / "a/images/x.jpg", 6, 4);
  const auto a = make_dataset("cihp", (t / "a").string());
  CHECK_NOTHROW(a->sample(0));
  CHECK_THROWS_WITH(a->sample(0, true), doctest::Contains("x.jpg is 6x4 but label"));
  // Image without label.
  write_image(t / "a/images/y.jpg", 5, 4);
  const std::string no_label = "image without label: " + (t / "a/images/y.jpg").string();
  CHECK_THROWS_WITH(make_dataset("cihp", (t / "a").string()), doctest::Contains(no_label.c_str()));
  // Label without image.
  fs::remove(t / "a/images/y.jpg");
  write_label(t / "a/labels/z.png", lab);
  const std::string no_image = "label without image: " + (t / "a/labels/z.png").string();
  CHECK_THROWS_WITH(make_dataset("cihp", (t / "a").string()), doctest::Contains(no_image.c_str()));
  // VOC list naming a missing label.
  write_label(t / "voc/SegmentationClass/2007_000001.png", lab);
  std::ofstream(t / "voc/val.txt") << "2007_000001\n2007_000002\n";
  const std::string missing = (t / "voc/SegmentationClass/2007_000002.png").string();
  CHECK_THROWS_WITH(make_dataset("voc21", (t / "voc").string()), doctest::Contains(missing.c_str()));
  // No layout at all names what was looked for.
  CHECK_THROWS_WITH(make_dataset("ade20k", t.path.string()), doctest::Contains("annotations/validation"));
  // Unreadable / non-PNG label.
  std::ofstream(t / "notpng.png") << "hello";
  CHECK_THROWS_WITH(read_label_png((t / "notpng.png").string()), doctest::Contains("notpng.png"));
  CHECK_THROWS_WITH(read_label_png((t / "missing.png").string()), doctest::Contains("missing.png"));
  // A colour PNG is refused as a label map.
  write_image(t / "rgb.png", 3, 3);
  CHECK_THROWS_WITH(read_label_png((t / "rgb.png").string()), doctest::Contains("colour"));
}

TEST_CASE("label PNG reader: 16-bit greyscale and sub-byte palette") {
  TempDir t("png");
  cv::Mat m16 = (cv::Mat_<std::uint16_t>(1, 3) << 0, 300, 65535);
  write_label_png((t / "a.png").string(), m16);
  const cv::Mat r = read_label_png((t / "a.png").string());
  CHECK(r.type() == CV_32SC1);
  CHECK(r.at<std::int32_t>(0, 1) == 300);
  CHECK(r.at<std::int32_t>(0, 2) == 65535);
}
