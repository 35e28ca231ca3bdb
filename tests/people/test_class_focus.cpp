#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "ovseg/harness/confusion_matrix.hpp"
#include "ovseg/host/class_focus.hpp"
#include "ovseg/host/report.hpp"

using nlohmann::json;
using ovseg::ClassFocusOptions;
using ovseg::render_class_focus;

namespace {

// A record as `ovseg eval` stores it, reduced to what tables read.
json record(const std::string& pipeline, const std::string& dataset, const std::vector<std::string>& names,
            const ovseg::harness::ConfusionMatrix& cm) {
  return {{"key", pipeline + "-" + dataset},
          {"date", "2026-11-30T14:00:00Z"},
          {"pipeline", {{"name", pipeline}, {"sha256", "sha-" + pipeline}}},
          {"dataset", {{"name", dataset}, {"class_names", names}}},
          {"protocol", json::object()},
          {"selection", {{"limit", nullptr}, {"shard", {{"index", 0}, {"count", 1}}}}},
          {"confusion_matrix", cm.to_json()}};
}

}  // namespace

TEST_CASE("focus table: IoU, precision, recall and confusions of a class from the stored matrix") {
  const std::vector<std::string> names = {"background", "person", "dog"};
  ovseg::harness::ConfusionMatrix a(3), b(3);
  // Method A: 100 person pixels, 60 right, 30 taken for dog, 10 for
  // background; 20 dog and 20 background pixels predicted as person.
  a.at(1, 1) = 60;
  a.at(1, 2) = 30;
  a.at(1, 0) = 10;
  a.at(2, 1) = 20;
  a.at(0, 1) = 20;
  a.at(0, 0) = 500;
  a.at(2, 2) = 80;
  // Method B: every person pixel right, nothing else called person.
  b.at(1, 1) = 100;
  b.at(0, 0) = 520;
  b.at(2, 2) = 100;
  const std::vector<json> records = {record("A", "coco_object", names, a), record("B", "coco_object", names, b)};
  ClassFocusOptions o;
  o.classes = {"Person"};
  const std::string md = render_class_focus(records, o);
  CAPTURE(md);
  CHECK(md.find("### person on Object") != std::string::npos);
  // IoU 60 / (100 + 100 - 60) = 42.9; precision 60 / 100; recall 60 / 100.
  CHECK(md.find("| A | 42.9 | 60.0 | 60.0 | 100 | dog 30.0, background 10.0 | background 20.0, dog 20.0 |") !=
        std::string::npos);
  CHECK(md.find("| B | 100.0 | 100.0 | 100.0 | 100 | - | - |") != std::string::npos);

  o.format = ovseg::TableFormat::Csv;
  o.top_confusions = 1;
  const std::string csv = render_class_focus(records, o);
  CHECK(csv.find("Object,person,A,42.9,60.0,60.0,100,dog 30.0,background 20.0\n") != std::string::npos);
}

TEST_CASE("focus table: a class no data set has is an error naming it") {
  ovseg::harness::ConfusionMatrix cm(2);
  cm.at(0, 0) = 1;
  const std::vector<json> records = {record("A", "voc21", {"background", "cat"}, cm)};
  ClassFocusOptions o;
  o.classes = {"person"};
  CHECK_THROWS_WITH_AS(render_class_focus(records, o), doctest::Contains("'person'"), std::invalid_argument);
  o.classes = {"cat"};
  o.datasets = {"Object"};  // filtered away
  CHECK_THROWS_AS(render_class_focus(records, o), std::invalid_argument);
}

TEST_CASE("the HTML report's focus sections: the --focus numbers as bars and chips, then the worst images") {
  const std::vector<std::string> names = {"background", "person", "dog"};
  ovseg::harness::ConfusionMatrix a(3);
  a.at(1, 1) = 60;
  a.at(1, 2) = 30;
  a.at(1, 0) = 10;
  a.at(2, 1) = 20;
  a.at(0, 1) = 20;
  a.at(0, 0) = 500;
  a.at(2, 2) = 80;
  ovseg::ComparisonTable t;
  t.title = "mIoU (%)";
  ovseg::TableRow row;
  row.label = "A";
  json rec = record("A", "coco_object", names, a);
  rec["metrics"] = {{"mIoU", 60.0},
                    {"per_class", json::array({{{"name", "background"}, {"iou", 92.6}},
                                               {{"name", "person"}, {"iou", 42.9}},
                                               {{"name", "dog"}, {"iou", 61.5}}})}};
  row.records = {rec};
  t.rows.push_back(row);
  ovseg::ReportOptions ro;
  ro.focus = {"person"};
  const std::string html = ovseg::render_report(t, ro);
  CAPTURE(html.substr(0, 4000));
  CHECK(html.find("<a href='#focus'>Focus</a>") != std::string::npos);
  CHECK(html.find("Focus: person on Object") != std::string::npos);
  // IoU 42.9, precision 60.0, recall 60.0 (the Markdown table's numbers), confusions as chips.
  CHECK(html.find("42.9</td>") != std::string::npos);
  CHECK(html.find("60.0</td>") != std::string::npos);
  CHECK(html.find("dog <b>30.0%</b>") != std::string::npos);
  CHECK(html.find("background <b>20.0%</b>") != std::string::npos);
  CHECK(html.find("Where person is worst") != std::string::npos);
  // Without focus classes there is no focus section; an unknown class is an error naming it.
  CHECK(ovseg::render_report(t, ovseg::ReportOptions{}).find("Focus: person") == std::string::npos);
  ro.focus = {"giraffe"};
  CHECK_THROWS_WITH_AS(ovseg::render_report(t, ro), doctest::Contains("'giraffe'"), std::invalid_argument);
}
