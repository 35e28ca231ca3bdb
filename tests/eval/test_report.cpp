// The HTML report and the per-image pool it draws its comparison grid from:
// the pool depends on ids alone, entries decode to what was stored, shards
// merge in pool order; the page is self-contained, has the heat map, plots
// and a grid whose images follow the chosen rule.
#include <doctest/doctest.h>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <random>

#include "ovseg/host/qualitative_pool.hpp"
#include "ovseg/host/report.hpp"
#include "ovseg/host/tables.hpp"
#include "table_test_records.hpp"

using namespace table_test;

namespace {

// The ids of the grid's rows, top to bottom.
std::vector<std::string> grid_ids(const std::string& html) {
  std::vector<std::string> out;
  const std::string mark = "<td class='id'>";
  for (size_t p = html.find(mark); p != std::string::npos; p = html.find(mark, p + 1)) {
    const size_t b = p + mark.size();
    out.push_back(html.substr(b, html.find_first_of("<", b) - b));
  }
  return out;
}

cv::Mat all(int k) { return cv::Mat(16, 16, CV_32S, cv::Scalar(k)); }

// Two methods on four images; truth: sky left, star right.
//   img0: a and b right          img1: a all sky, b star on 4 of 8 columns
//   img2: a star on 4 of 8, b right   img3: a right, b all sky
std::vector<json> two_methods_with_pools() {
  const std::vector<std::pair<std::string, double>> classes = {{"sky", 70}, {"tree", 40}, {"star", 20}};
  json a = make_record("method-a", "folder", 43.3, "2026-01-01T00:00:01Z", classes);
  json b = make_record("method-b", "folder", 40.0, "2026-01-01T00:00:02Z", classes);
  const cv::Mat truth = halves(0, 2, 8);
  const std::vector<std::string> ids = {"img0", "img1", "img2", "img3"};
  add_pool(a, {{truth, truth}, {truth, all(0)}, {truth, halves(0, 2, 12)}, {truth, truth}}, ids);
  add_pool(b, {{truth, truth}, {truth, halves(0, 2, 12)}, {truth, truth}, {truth, all(0)}}, ids);
  return {a, b};
}

std::string report(const std::vector<json>& records, const std::string& rule, int images = 6) {
  ovseg::TableOptions o;
  o.per_class_dataset = "folder";
  ovseg::ReportOptions r;
  r.rule = rule;
  r.images = images;
  return ovseg::render_report(ovseg::build_table(records, o), r);
}

}  // namespace

TEST_CASE("the qualitative pool depends on the ids alone; smaller pools are part of larger ones") {
  std::vector<std::string> ids;
  for (int i = 0; i < 50; ++i) ids.push_back("image_" + std::to_string(i));
  const auto pool = ovseg::qualitative_pool(ids, 8);
  REQUIRE(pool.size() == 8);
  std::vector<std::string> chosen;
  for (size_t i : pool) chosen.push_back(ids[i]);
  // Another order of the same ids (another data set reader) gives the same images in the same order.
  std::vector<std::string> shuffled = ids;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(3));
  std::vector<std::string> again;
  for (size_t i : ovseg::qualitative_pool(shuffled, 8)) again.push_back(shuffled[i]);
  CHECK(again == chosen);
  const auto small = ovseg::qualitative_pool(ids, 3);
  CHECK(std::equal(small.begin(), small.end(), pool.begin()));
  CHECK(ovseg::qualitative_pool({"a", "b"}, 8).size() == 2);
  // Not simply the first images.
  CHECK(chosen != std::vector<std::string>(ids.begin(), ids.begin() + 8));
}

TEST_CASE("a pool entry stores exact per-class counts and label thumbnails that decode back") {
  cv::Mat truth = halves(0, 2, 8);
  truth.at<int32_t>(0, 0) = 255;  // ignored
  const cv::Mat pred = halves(0, 2, 12);
  const cv::Mat bgr(16, 16, CV_8UC3, cv::Scalar(10, 20, 30));
  const json e = ovseg::qualitative_entry("x", 2, bgr, truth, pred, 255, 3);
  CHECK(e["rank"] == 2);
  CHECK(e["width"] == 16);
  // class 0: gt 8*16-1, pred 12*16-1 (the ignored pixel is not counted), intersection 8*16-1; class 2: gt 128, pred 64, inter 64.
  CHECK(e["classes"] == json::parse("[[0, 127, 191, 127], [2, 128, 64, 64]]"));
  const cv::Mat t = ovseg::decode_label_thumbnail(e["truth"]);
  CHECK(t.at<int32_t>(0, 0) == -1);
  CHECK(t.at<int32_t>(5, 3) == 0);
  CHECK(t.at<int32_t>(5, 13) == 2);
  CHECK(ovseg::decode_label_thumbnail(e["prediction"]).at<int32_t>(5, 9) == 0);
  CHECK(e["image"].get<std::string>().rfind("/9j/", 0) == 0);  // JPEG
  // 300 classes: 16-bit thumbnails keep class 280.
  const json wide = ovseg::qualitative_entry("y", 0, bgr, halves(280, 1, 8), halves(280, 1, 8), 65535, 300);
  CHECK(ovseg::decode_label_thumbnail(wide["truth"]).at<int32_t>(3, 3) == 280);
  // Large images shrink to the thumbnail side.
  const cv::Mat big(400, 200, CV_32S, cv::Scalar(1));
  const json small = ovseg::qualitative_entry("z", 0, cv::Mat(400, 200, CV_8UC3, cv::Scalar(0)), big, big, 255, 3);
  CHECK(ovseg::decode_label_thumbnail(small["truth"]).rows == ovseg::kThumbnailSide);
}

TEST_CASE("shard pools merge in pool order; records from before pools are skipped") {
  json s0 = ovseg::qualitative_block(), s1 = ovseg::qualitative_block();
  s0["images"] = json::array({{{"id", "c"}, {"rank", 2}}, {{"id", "a"}, {"rank", 0}}});
  s1["images"] = json::array({{{"id", "b"}, {"rank", 1}}});
  const json legacy = json::array({{{"id", "old"}, {"jpeg_base64", "/9j/"}}});
  const json merged = ovseg::merge_qualitative({s0, legacy, s1});
  REQUIRE(merged["images"].size() == 3);
  CHECK(merged["images"][0]["id"] == "a");
  CHECK(merged["images"][2]["id"] == "c");
  CHECK(merged["format"] == ovseg::kQualitativeFormat);
}

TEST_CASE("the report: self-contained, heat map with a baseline, plots, a grid chosen by the rule") {
  const auto records = two_methods_with_pools();
  const std::string html = report(records, "random:0");
  // Works offline: nothing is fetched.
  CHECK(html.find("https://") == std::string::npos);
  size_t http = 0;
  for (size_t p = html.find("http://"); p != std::string::npos; p = html.find("http://", p + 1)) {
    CHECK(html.compare(p, 26, "http://www.w3.org/2000/svg") == 0);
    ++http;
  }
  CHECK(http >= 1);
  CHECK(html.find("<script src") == std::string::npos);
  CHECK(html.find("<link") == std::string::npos);
  CHECK(html.find("@import") == std::string::npos);
  // Heat map: one row per method, cells carrying their IoU, a baseline select.
  CHECK(html.find("<table class='heat sortable'") != std::string::npos);
  CHECK(html.find("<td data-v='70' style='background:") != std::string::npos);
  CHECK(html.find("<option value='1'>method-b</option>") != std::string::npos);
  CHECK(html.find("value='delta'") != std::string::npos);
  // Grouped bars of mIoU per method.
  CHECK(html.find("mIoU per method and data set") != std::string::npos);
  CHECK(html.find("<title>method-b, mIoU: 40.0</title>") != std::string::npos);
  // The grid: image, ground truth, one column per method, a legend.
  CHECK(html.find("<th>image</th><th>ground truth</th><th style='max-width:") != std::string::npos);
  CHECK(html.find("px'>method-a</th><th style='max-width:") != std::string::npos);
  CHECK(grid_ids(html).size() == 4);
  CHECK(html.find("<i style='background:#008000'></i>star") != std::string::npos);  // VOC palette colour 2
  CHECK(html.find("</i>tree</span>") == std::string::npos);                         // not in any shown map
  // The same seed gives the same page; the grid keeps to --num-images.
  CHECK(report(records, "random:0") == html);
  CHECK(grid_ids(report(records, "random:5", 2)).size() == 2);
}

TEST_CASE("the grid's rules: worst for a class, largest disagreement, random with a seed") {
  const auto records = two_methods_with_pools();
  // star IoU averaged over a and b: img1 25, img3 50, img2 75, img0 100.
  CHECK(grid_ids(report(records, "worst:star")) == std::vector<std::string>{"img1", "img3", "img2", "img0"});
  // a and b differ on 0% (img0), 25% (img1, img2), 50% (img3) of the pixels.
  const auto d = grid_ids(report(records, "disagree:method-a,method-b"));
  REQUIRE(d.size() == 4);
  CHECK(d[0] == "img3");
  CHECK(d[3] == "img0");
  CHECK(report(records, "disagree").find("50.0% of pixels differ") != std::string::npos);
  std::set<std::vector<std::string>> orders;
  for (int seed = 0; seed < 6; ++seed) orders.insert(grid_ids(report(records, "random:" + std::to_string(seed))));
  CHECK(orders.size() > 1);
  CHECK(report(records, "worst:stra").find("did you mean &#39;star&#39;") != std::string::npos);
  CHECK_THROWS_AS(ovseg::check_image_rule("best:star"), std::invalid_argument);
  CHECK_THROWS_AS(ovseg::check_image_rule("random:x"), std::invalid_argument);
  CHECK_THROWS_AS(ovseg::check_image_rule("disagree:a"), std::invalid_argument);
  CHECK_NOTHROW(ovseg::check_image_rule("worst"));
}

TEST_CASE("the report names records stored before pools instead of dropping them silently") {
  auto records = two_methods_with_pools();
  records[1]["qualitative"] = json::array({{{"id", "img0"}, {"jpeg_base64", "/9j/"}}});
  const std::string html = report(records, "random:0");
  CHECK(html.find("stored before per-image predictions were recorded; rerun with --force): method-b") !=
        std::string::npos);
  CHECK(html.find("px'>method-a</th></tr>") != std::string::npos);  // the grid keeps the other method
}

TEST_CASE("an ablation over a numeric parameter gets a metric-vs-parameter plot") {
  ovseg::AblationInput in;
  in.name = "sigma";
  in.axes = {"nodes.refine.gaussian_std", "nodes.refine.attention"};
  for (double s : {0.0, 3.0, 5.0})
    for (const char* att : {"\"kk\"", "\"qq\""})
      in.points.push_back({{std::to_string(s).substr(0, 3), att}, {make_record("naclip", "coco_object", 20 + s)}});
  const std::string html = ovseg::render_report(ovseg::build_ablation_table(in, {}), {});
  CHECK(html.find("mIoU against gaussian_std (nodes.refine.gaussian_std)") != std::string::npos);
  CHECK(html.find("against attention") == std::string::npos);  // not numeric
  CHECK(html.find("<path d='M") != std::string::npos);
  CHECK(html.find("Object, attention=kk") != std::string::npos);  // one line per other-axis value
}
