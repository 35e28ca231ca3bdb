// The data set owns the vocabulary: a pipeline whose class list differs is
// refused naming the first difference (nothing stored), unless it declares a
// [vocabulary] map; records carry the vocabulary; tables keep one row per
// pipeline across its per-dataset settings and never put two vocabularies
// under one header; VOC21's background is shown as "background".
#include <doctest/doctest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "eval_test_util.hpp"
#include "ovseg/harness/dataset.hpp"
#include "ovseg/host/results_store.hpp"
#include "ovseg/host/tables.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/models/random_clip.hpp"
#include "ovseg/world/world.hpp"
#include "table_test_records.hpp"

using namespace eval_test;
using nlohmann::json;

namespace {

struct World {
  TempDir dir;
  std::string root, model;
  World() {
    ovseg::world::SceneOptions o;
    o.width = o.height = 64;
    ovseg::world::write_world_split(dir.file("w"), "val", 2, 5, o);
    root = dir.file("w");
    model = dir.file("clip.safetensors");
    ovseg::models::save_safetensors(
        model, ovseg::models::make_random_clip_state_dict(ovseg::models::clip_geometry_preset("tiny"), 7));
  }
};

World& world() {
  static World w;
  return w;
}

std::string pipeline(const std::string& text_extra, const std::string& tail = "") {
  const std::string& m = world().model;
  return "[protocol]\nshort_side = 64\nwindow = 64\nstride = 64\n"
         "[nodes.clip]\nplugin = \"clip_image\"\ninputs = { image = \"input.image\" }\nmodel = \"" +
         m +
         "\"\n"
         "[nodes.text]\nplugin = \"clip_text\"\nmodel = \"" +
         m + "\"\ntemplates = \"single\"\ncache = false\n" + text_extra +
         "\n[nodes.logits]\nplugin = \"cosine_logits\"\ninputs = { features = \"clip.features\", text = "
         "\"text.embeddings\" }\n"
         "[nodes.upsample]\nplugin = \"resize_logits\"\ninputs = { logits = \"logits.logits\", image = \"input.image\" "
         "}\n" +
         tail;
}

CliResult eval(const TempDir& tmp, const std::string& toml) {
  write_file(tmp.file("p.toml"), toml);
  return run_cli("eval '" + tmp.file("p.toml") + "' --dataset world --data-root '" + world().root + "' --results '" +
                 tmp.file("res") + "' --quiet --plugin-dir '" + OVSEG_TEST_PLUGIN_DIR + "'");
}

}  // namespace

TEST_CASE("a pipeline with another data set's classes is refused, naming the first difference; nothing is stored") {
  TempDir tmp;
  const auto r = eval(tmp, pipeline("names_file = \"" + kSourceDir + "/host/harness/class_names/cls_voc21.txt\"\n"));
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(contains(r.output, "class 0 is 'sky' in the pipeline and 'grass' in the data set"));
  CHECK(contains(r.output, "(21 classes)"));
  CHECK(contains(r.output, "(30 classes)"));
  CHECK((!fs::exists(tmp.file("res")) || ovseg::load_records(tmp.file("res")).empty()));
}

TEST_CASE("without class names the text node takes the data set's; the record stores that vocabulary") {
  TempDir tmp;
  const auto r = eval(tmp, pipeline(""));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto records = ovseg::load_records(tmp.file("res"));
  REQUIRE(records.size() == 1);
  const json& rec = records[0];
  const auto ds = ovseg::harness::make_dataset("world", world().root);
  CHECK(rec.at("vocabulary").at("names") == json(ds->display_class_names()));
  CHECK(rec.at("vocabulary").at("sha256").get<std::string>().size() == 64);
  CHECK(rec.at("pipeline").at("class_names") == json(ds->display_class_names()));
  CHECK(rec.at("pipeline").contains("family_sha256"));
}

TEST_CASE("[vocabulary] map: the pipeline's classes are scored as the data-set classes it names") {
  TempDir tmp;
  // Two classes: "zebra" is declared to be the world's water, "grass" is grass.
  const auto r = eval(tmp, pipeline("class_names = [\"zebra\", \"grass\"]\n",
                                    "[vocabulary]\nmap = { zebra = \"water\" }\n"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const json rec = ovseg::load_records(tmp.file("res")).at(0);
  CHECK(rec.at("pipeline").at("class_map").at("zebra") == "water");
  long predicted = 0;
  for (const auto& c : rec.at("metrics").at("per_class")) {
    const long pred = c.at("pred_pixels").get<long>();
    predicted += pred;
    if (c.at("name") != "water" && c.at("name") != "grass") CHECK(pred == 0);
  }
  CHECK(predicted > 0);
  // A map key that is not one of the pipeline's classes is a typo.
  TempDir tmp2;
  const auto bad = eval(tmp2, pipeline("class_names = [\"zebra\", \"grass\"]\n",
                                       "[vocabulary]\nmap = { zebar = \"water\" }\n"));
  CHECK(bad.exit_code == 1);
  CHECK(contains(bad.output, "'zebar'"));
  // A class that is no data-set class, unmapped.
  TempDir tmp3;
  const auto unmapped = eval(tmp3, pipeline("class_names = [\"zebra\", \"grass\"]\n", "[vocabulary]\nmap = {}\n"));
  CHECK(unmapped.exit_code == 1);
  CHECK(contains(unmapped.output, "'zebra' is not a class of data set 'folder'"));
}

TEST_CASE("VOC21's and COCO-Object's background is shown as background; its words stay the queries") {
  const auto voc = ovseg::harness::make_dataset("voc21", std::string(OVSEG_SHARED_DATA) + "/voc2012-val-gt");
  CHECK(voc->display_class_names()[0] == "background");
  CHECK(voc->class_names()[0][0] == "sky");
  const auto coco = ovseg::harness::make_dataset("coco_object", kCocoRoot);
  CHECK(coco->display_class_names()[0] == "background");
  CHECK(coco->display_class_names()[1] == "person");
}

TEST_CASE("tables: one row per pipeline across its per-dataset settings; one column per vocabulary") {
  using table_test::make_record;
  auto with = [](json r, const std::string& family, const std::string& vocab) {
    r["pipeline"]["family_sha256"] = family;
    r["vocabulary"] = {{"sha256", vocab}};
    return r;
  };
  // sclip on VOC21 and ADE: two resolved runs (other sha256), one family.
  json a = with(make_record("sclip", "voc21", 50), std::string(64, 'f'), std::string(64, '1'));
  json b = with(make_record("sclip", "ade20k", 20), std::string(64, 'f'), std::string(64, '2'));
  b["pipeline"]["sha256"] = std::string(64, 'b');
  b["protocol"]["short_side"] = 448;
  ovseg::ComparisonTable t = ovseg::build_table({a, b}, {});
  REQUIRE(t.rows.size() == 1);
  CHECK(t.rows[0].label == "sclip");
  std::string notes;
  for (const auto& f : t.footer) notes += f + "\n";
  CHECK(contains(notes, "protocol of sclip on ADE"));

  // Another pipeline on VOC21 under another vocabulary: its own column.
  json c = with(make_record("naclip", "voc21", 40), std::string(64, 'e'), std::string(64, '3'));
  t = ovseg::build_table({a, c}, {});
  std::vector<std::string> headers;
  for (const auto& col : t.columns) headers.push_back(col.flat_header());
  CHECK(std::count_if(headers.begin(), headers.end(),
                      [](const std::string& h) { return contains(h, "VOC21 [vocabulary"); }) == 2);
}

TEST_CASE("tables: rows of one pipeline that differ in a node parameter are labelled by it") {
  using table_test::RecordSpec;
  RecordSpec a, b;
  a.pipeline = b.pipeline = "naclip";
  a.dataset = b.dataset = "voc21";
  b.sha = std::string(64, 'b');
  a.resolved_toml = "[nodes.refine]\nplugin = \"naclip\"\ngaussian_std = 5.0\n";
  b.resolved_toml = "[nodes.refine]\nplugin = \"naclip\"\ngaussian_std = 3.0\n";
  const ovseg::ComparisonTable t = ovseg::build_table({table_test::make_record(a), table_test::make_record(b)}, {});
  std::vector<std::string> labels;
  for (const auto& r : t.rows) labels.push_back(r.label);
  std::sort(labels.begin(), labels.end());
  CHECK(labels == std::vector<std::string>{"naclip [refine.gaussian_std=3.0]", "naclip [refine.gaussian_std=5.0]"});
}

TEST_CASE("a run's key does not depend on how a file path is spelled") {
  TempDir tmp;
  REQUIRE(eval(tmp, pipeline("")).exit_code == 0);
  // The same model and pipeline, the model's path written another way.
  std::string other = pipeline("");
  const std::string& m = world().model;
  const std::string respelled = fs::path(m).parent_path().string() + "/./" + fs::path(m).filename().string();
  for (size_t at = other.find(m); at != std::string::npos; at = other.find(m, at + respelled.size()))
    other.replace(at, m.size(), respelled);
  REQUIRE(other.find("/./") != std::string::npos);
  const auto again = eval(tmp, other);
  INFO(again.output);
  CHECK(again.exit_code == 0);
  CHECK(contains(again.output, "already stored"));
}
