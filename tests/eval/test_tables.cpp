// Paper-style tables from synthetic records: column names and order, Avg,
// best / second marks, row order and groups, published rows and Δ,
// zero-shot columns, per-class and ablation layouts, and the LaTeX, Markdown
// and CSV renderings.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <unistd.h>

#include "ovseg/host/benchmark_names.hpp"
#include "ovseg/host/results_store.hpp"
#include "ovseg/host/published.hpp"
#include "ovseg/host/sweep.hpp"
#include "ovseg/host/table_layout.hpp"
#include "ovseg/host/tables.hpp"
#include "table_test_records.hpp"

using namespace table_test;
using ovseg::ComparisonTable;
using ovseg::TableFormat;
using ovseg::TableOptions;

namespace fs = std::filesystem;

namespace {

const std::string kSource = OVSEG_SOURCE_DIR;

std::string cell(const ComparisonTable& t, const std::string& row, const std::string& column) {
  const int c = t.column(column);
  REQUIRE_MESSAGE(c >= 0, "no column " << column);
  for (const auto& r : t.rows)
    if (r.label == row) return r.cells[static_cast<size_t>(c)].text;
  FAIL("no row " << row);
  return "";
}

int rank(const ComparisonTable& t, const std::string& row, const std::string& column) {
  const int c = t.column(column);
  for (const auto& r : t.rows)
    if (r.label == row) return r.cells[static_cast<size_t>(c)].rank;
  return -1;
}

std::vector<std::string> labels(const ComparisonTable& t) {
  std::vector<std::string> out;
  for (const auto& r : t.rows) out.push_back(r.label);
  return out;
}

// Three methods; A and B share VOC21, PC60 and Object, C lacks Object, B
// alone has ADE.
std::vector<json> three_methods() {
  return {make_record("method-a", "voc21", 50, "2026-01-01T00:00:03Z"),
          make_record("method-a", "context60", 30, "2026-01-01T00:00:03Z"),
          make_record("method-a", "coco_object", 20, "2026-01-01T00:00:03Z"),
          make_record("method-b", "voc21", 60, "2026-01-01T00:00:01Z"),
          make_record("method-b", "context60", 25, "2026-01-01T00:00:01Z"),
          make_record("method-b", "coco_object", 20, "2026-01-01T00:00:01Z"),
          make_record("method-b", "ade20k", 10, "2026-01-01T00:00:01Z"),
          make_record("method-c", "voc21", 40, "2026-01-01T00:00:02Z"),
          make_record("method-c", "context60", 35, "2026-01-01T00:00:02Z")};
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("short column names and the papers' column order") {
  CHECK(ovseg::dataset_short_name("context60") == "PC60");
  CHECK(ovseg::dataset_short_name("coco_stuff171") == "Stuff");
  CHECK(ovseg::dataset_short_name("folder") == "world");
  CHECK(ovseg::dataset_short_name("pascal_person_part") == "PPP");
  CHECK(ovseg::dataset_from_column_name("PC59") == "context59");
  CHECK(ovseg::dataset_from_column_name("A-847") == "ade847");
  CHECK(ovseg::dataset_from_column_name("world") == "folder");
  CHECK(ovseg::dataset_from_column_name("ade20k") == "ade20k");
  CHECK_THROWS_AS(ovseg::dataset_from_column_name("VOC22"), std::invalid_argument);
  const std::vector<std::string> paper = {"voc21",     "context60",     "coco_object", "voc20",
                                          "context59", "coco_stuff171", "cityscapes",  "ade20k"};
  for (size_t i = 1; i < paper.size(); ++i)
    CHECK(ovseg::dataset_column_rank(paper[i - 1]) < ovseg::dataset_column_rank(paper[i]));
}

TEST_CASE("data-set table: columns, Avg over the common data sets, best bold and second underlined") {
  const ComparisonTable t = ovseg::build_table(three_methods(), {});
  CHECK(t.header() == std::vector<std::string>{"Method", "VOC21", "PC60", "Object", "ADE", "Avg"});
  // Rows in the order they were evaluated (record dates), not by name.
  CHECK(labels(t) == std::vector<std::string>{"method-b", "method-c", "method-a"});
  // Avg over VOC21 and PC60, the data sets every row has.
  CHECK(cell(t, "method-a", "Avg") == "40.0");
  CHECK(cell(t, "method-b", "Avg") == "42.5");
  CHECK(cell(t, "method-c", "Avg") == "37.5");
  CHECK(cell(t, "method-c", "Object") == "-");
  CHECK(rank(t, "method-b", "VOC21") == 1);
  CHECK(rank(t, "method-a", "VOC21") == 2);
  CHECK(rank(t, "method-c", "VOC21") == 0);
  CHECK(rank(t, "method-c", "PC60") == 1);
  CHECK(rank(t, "method-a", "Object") == 0);  // every row ties: nothing is best
  CHECK(rank(t, "method-b", "Object") == 0);
  CHECK(rank(t, "method-b", "ADE") == 0);  // one value: nothing to compare
  CHECK(rank(t, "method-b", "Avg") == 1);
  bool avg_note = false;
  for (const auto& f : t.footer) avg_note |= f.find("Avg: mean over VOC21, PC60 (the data sets every row has)") == 0;
  CHECK(avg_note);

  const std::string md = ovseg::render_table(t, TableFormat::Markdown);
  CHECK(md.find("| Method | VOC21 | PC60 | Object | ADE | Avg |") != std::string::npos);
  CHECK(md.find("| method-b | **60.0** | 25.0 | 20.0 | 10.0 | **42.5** |") != std::string::npos);
  CHECK(md.find("| method-a | _50.0_ | _30.0_ | 20.0 | - | _40.0_ |") != std::string::npos);
  const std::string tex = ovseg::render_table(t, TableFormat::Latex);
  CHECK(tex.find("method-b & \\textbf{60.0} & 25.0 & 20.0 & 10.0 & \\textbf{42.5} \\\\") != std::string::npos);
  CHECK(tex.find("method-a & \\underline{50.0} & \\underline{30.0}") != std::string::npos);
  const std::string csv = ovseg::render_table(t, TableFormat::Csv);
  CHECK(csv.rfind("Method,VOC21,PC60,Object,ADE,Avg\nmethod-b,60.0,25.0,20.0,10.0,42.5\n", 0) == 0);
}

TEST_CASE("data-set table: Avg options, chosen columns, metric and decimals") {
  TableOptions o;
  o.avg = "all";
  ComparisonTable t = ovseg::build_table(three_methods(), o);
  CHECK(cell(t, "method-b", "Avg") == "28.8");  // (60 + 25 + 20 + 10) / 4 = 28.75
  CHECK(cell(t, "method-a", "Avg") == "-");     // lacks ADE
  o.avg = "none";
  CHECK(ovseg::build_table(three_methods(), o).column("Avg") == -1);
  o.avg_over = {"voc21", "Object"};
  t = ovseg::build_table(three_methods(), o);
  CHECK(cell(t, "method-a", "Avg") == "35.0");
  CHECK(cell(t, "method-c", "Avg") == "-");
  o.avg_over.clear();
  o.avg = "common";
  o.datasets = {"PC60", "voc21"};
  o.decimals = 2;
  t = ovseg::build_table(three_methods(), o);
  CHECK(t.header() == std::vector<std::string>{"Method", "PC60", "VOC21", "Avg"});
  CHECK(cell(t, "method-b", "VOC21") == "60.00");
  o = {};
  o.metric = "mAcc";
  t = ovseg::build_table(three_methods(), o);
  CHECK(t.title == "mAcc (%)");
  CHECK(cell(t, "method-b", "VOC21") == "65.0");
  o.metric = "IoU";
  CHECK_THROWS_AS(ovseg::build_table(three_methods(), o), std::invalid_argument);
  o.metric = "mIoU";
  o.avg = "most";
  CHECK_THROWS_AS(ovseg::build_table(three_methods(), o), std::invalid_argument);
}

TEST_CASE("row layouts: order, groups, labels, missing and unplaced pipelines") {
  TableOptions o;
  o.groups = {{"Baselines", {{"method-c", "", ""}, {"method-a", "", "A (ours)"}}}, {"Other", {{"method-z", "", ""}}}};
  const ComparisonTable t = ovseg::build_table(three_methods(), o);
  CHECK(labels(t) == std::vector<std::string>{"method-c", "A (ours)"});
  CHECK(t.rows[0].group == "Baselines");
  std::string notes;
  for (const auto& f : t.footer) notes += f + "\n";
  CHECK(notes.find("named by the row layout but not stored: method-z") != std::string::npos);
  CHECK(notes.find("stored but not in the row layout (not shown): method-b") != std::string::npos);
  // Group headers in every format.
  CHECK(ovseg::render_table(t, TableFormat::Markdown).find("| *Baselines* |") != std::string::npos);
  CHECK(ovseg::render_table(t, TableFormat::Latex).find("\\multicolumn{5}{l}{\\textit{Baselines}} \\\\") !=
        std::string::npos);
  CHECK(ovseg::render_table(t, TableFormat::Csv).find(",group\n") != std::string::npos);
}

TEST_CASE("row layout files: TOML layout, name list with groups, demo file, sweep file") {
  const fs::path dir = fs::temp_directory_path() / ("ovseg_layout_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "rows.txt")
      << "# my table\n[Training-free]\nmethod-c\npublished:sclip-b16\n\n[Ours]\nmethod-a  # best\n";
  ovseg::TableLayout l = ovseg::load_table_layout((dir / "rows.txt").string());
  REQUIRE(l.groups.size() == 2);
  CHECK(l.groups[0].name == "Training-free");
  CHECK(l.groups[0].rows[1].published == "sclip-b16");
  CHECK(l.groups[1].rows[0].pipeline == "method-a");
  CHECK(l.names_published());

  l = ovseg::load_table_layout(kSource + "/results/layouts/naclip_table1.toml");
  CHECK(l.datasets.size() == 8);
  CHECK(l.avg_over == l.datasets);
  REQUIRE(l.groups.size() == 2);
  CHECK(l.groups[1].rows.back().pipeline == "naclip+pamr");
  CHECK(l.groups[1].rows.back().published == "naclip-pamr-b16");

  l = ovseg::load_table_layout(kSource + "/pipelines/demo.toml");
  REQUIRE(l.groups.size() == 1);
  CHECK(l.groups[0].rows[0].pipeline == "vanilla");
  CHECK(l.groups[0].rows.back().pipeline == "q/v fine-tune");

  l = ovseg::load_table_layout(kSource + "/pipelines/sweeps/naclip_sigma.toml");
  REQUIRE(l.sweep.has_value());
  CHECK(l.sweep->axes[0].path == "nodes.refine.gaussian_std");

  std::ofstream(dir / "bad.toml") << "[table]\nmetrc = \"mIoU\"\n";
  CHECK_THROWS_WITH_AS(ovseg::load_table_layout((dir / "bad.toml").string()),
                       doctest::Contains("did you mean 'metric'"), ovseg::Error);
  fs::remove_all(dir);
}

TEST_CASE("the shipped published rows load, cite their source, and match DESIGN.md section 6") {
  const auto rows = ovseg::load_published(kSource + "/results/published");
  CHECK(rows.size() >= 10);
  for (const auto& r : rows) {
    CHECK_MESSAGE(!r.cite.empty(), r.id);
    CHECK_MESSAGE(!r.source.empty(), r.id);
    CHECK_MESSAGE(!r.backbone.empty(), r.id);
  }
  // DESIGN.md section 6 (VOC21/PC60/Object/VOC20/PC59/Stuff/City/ADE).
  const std::vector<std::string> order = {"voc21",     "context60",     "coco_object", "voc20",
                                          "context59", "coco_stuff171", "cityscapes",  "ade20k"};
  const std::vector<std::pair<std::string, std::vector<double>>> design = {
      {"clip-b16", {18.8, 9.9, 8.1, 49.4, 11.1, 5.7, 6.5, 3.1}},
      {"maskclip-b16", {43.4, 23.2, 20.6, 74.9, 26.4, 16.7, 24.9, 11.9}},
      {"sclip-b16", {59.1, 30.4, 30.5, 80.4, 34.2, 22.4, 32.2, 16.1}},
      {"clearclip-b16", {51.8, 32.6, 33.0, 80.9, 35.9, 23.9, 30.0, 16.7}},
      {"naclip-pamr-b16", {64.1, 35.0, 36.2, 83.0, 38.4, 25.7, 38.3, 19.1}}};
  for (const auto& [id, values] : design) {
    const auto& r = ovseg::find_published(rows, id);
    for (size_t i = 0; i < order.size(); ++i) {
      REQUIRE_MESSAGE(r.value("mIoU", order[i]).has_value(), id << " " << order[i]);
      // As printed with one decimal (NACLIP's README has two).
      CHECK_MESSAGE(std::round(*r.value("mIoU", order[i]) * 10) / 10 == doctest::Approx(values[i]),
                    id << " " << order[i]);
    }
  }
  const auto& cliprc = ovseg::find_published(rows, "cliprc-b16");
  CHECK(*cliprc.value("hIoU", "voc20") == doctest::Approx(88.4));
  CHECK_FALSE(cliprc.value("mIoU", "voc20").has_value());  // not printed: left out, not guessed
  CHECK_THROWS_WITH_AS(ovseg::find_published(rows, "sclip-b61"), doctest::Contains("did you mean 'sclip-b16'"),
                       std::invalid_argument);
}

TEST_CASE("published rows beside reproduced ones, with Δ for a named counterpart") {
  TableOptions o;
  o.published = ovseg::load_published(kSource + "/results/published");
  o.with_published = true;
  o.datasets = {"VOC21", "PC60", "Object", "VOC20", "PC59", "Stuff", "City", "ADE"};
  o.avg = "all";
  const std::vector<json> records = {make_record("naclip+pamr", "voc21", 60.0),
                                     make_record("naclip+pamr", "coco_object", 33.0),
                                     make_record("my-method", "voc21", 70.0)};
  const ComparisonTable t = ovseg::build_table(records, o);
  CHECK(t.header() == std::vector<std::string>{"Method", "VOC21", "PC60", "Object", "VOC20", "PC59", "Stuff", "City",
                                               "ADE", "Avg", "Δ"});
  // Published groups first, in the files' order; reproduced rows last.
  REQUIRE(t.rows.size() >= 7);
  CHECK(t.rows[0].group == "Training-free");
  CHECK(t.rows[0].published);
  CHECK(t.rows.back().group == "Reproduced (ovseg)");
  CHECK_FALSE(t.rows.back().published);
  // CAT-Seg and ESC-Net print VOC20, PC59, ADE: they are rows too, and the
  // backbones differ, so labels name them.
  const auto names = labels(t);
  CHECK(std::find(names.begin(), names.end(), "CAT-Seg (ViT-L/14)") != names.end());
  // Training-free first, chronologically.
  CHECK(names[0] == "CLIP (ViT-B/16)");
  CHECK(names[1] == "MaskCLIP (ViT-B/16)");
  CHECK(std::find(names.begin(), names.end(), "CLIP-RC (ViT-B/16)") == names.end());  // no mIoU printed
  const auto naclip = std::find_if(t.rows.begin(), t.rows.end(),
                                   [](const auto& r) { return r.label == "NACLIP (ViT-B/16)"; });
  REQUIRE(naclip != t.rows.end());
  CHECK(naclip->cite == "hajimiri2025naclip");
  CHECK(cell(t, "NACLIP (ViT-B/16)", "Avg") == "42.5");  // the paper's 42.46
  CHECK(cell(t, "SCLIP (ViT-B/16)", "Avg") == "38.2");   // the paper's 38.2
  // Δ = mean(60.0 - 64.07, 33.0 - 36.19) = -3.63 over the two data sets ours has.
  CHECK(cell(t, "naclip+pamr", "Δ") == "-3.6");
  CHECK(cell(t, "naclip+pamr", "Avg") == "-");  // lacks six of the eight
  CHECK(cell(t, "my-method", "Δ") == "-");      // names no counterpart
  // No data set in common with the counterpart: no Δ column at all.
  TableOptions only_ade = o;
  only_ade.datasets = {"ADE"};
  CHECK(ovseg::build_table(records, only_ade).column("Δ") == -1);
  CHECK(rank(t, "my-method", "VOC21") == 1);  // published rows compete for the marks
  CHECK(rank(t, "NACLIP (ViT-B/16)", "VOC21") == 2);
  const int delta = t.column("Δ");
  for (const auto& r : t.rows)
    if (r.label == "naclip+pamr")
      CHECK(r.cells[static_cast<size_t>(delta)].note.find("VOC21 -4.1") != std::string::npos);
  std::string notes;
  for (const auto& f : t.footer) notes += f + "\n";
  CHECK(notes.find("† NACLIP (ViT-B/16): hajimiri2025naclip") != std::string::npos);
  CHECK(notes.find("Δ: reproduced minus published mIoU") != std::string::npos);
  const std::string tex = ovseg::render_table(t, TableFormat::Latex);
  CHECK(tex.find("NACLIP (ViT-B/16)~\\cite{hajimiri2025naclip}$^\\dagger$") != std::string::npos);
  CHECK(tex.find("$-$3.6") != std::string::npos);
  CHECK(ovseg::render_table(t, TableFormat::Markdown).find("| NACLIP (ViT-B/16)† |") != std::string::npos);

  // Without --with-published nothing of this appears.
  o.with_published = false;
  o.published.clear();
  const ComparisonTable plain = ovseg::build_table(records, o);
  CHECK(plain.rows.size() == 2);
  CHECK(plain.column("Δ") == -1);
}

TEST_CASE("zero-shot columns: seen / unseen / hIoU beside mIoU, and --metric hIoU") {
  json rec = make_record("zs", "voc20", 70.0);
  rec["zero_shot"] = {{"unseen", {"tree"}}, {"source", "test split"}, {"mIoU_seen", 80.0},  {"mIoU_unseen", 40.0},
                      {"hIoU", 53.3},       {"seen_classes", 1},      {"unseen_classes", 1}};
  TableOptions o;
  o.published = ovseg::load_published(kSource + "/results/published/cliprc.toml");
  o.with_published = true;
  ComparisonTable t = ovseg::build_table({rec, make_record("plain", "voc20", 60.0)}, o);
  CHECK(t.header() == std::vector<std::string>{"Method", "VOC20 mIoU", "VOC20 seen", "VOC20 unseen", "VOC20 hIoU"});
  CHECK(cell(t, "CLIP-RC", "VOC20 hIoU") == "88.4");
  CHECK(cell(t, "CLIP-RC", "VOC20 mIoU") == "-");
  CHECK(cell(t, "zs", "VOC20 unseen") == "40.0");
  CHECK(cell(t, "plain", "VOC20 seen") == "-");
  const std::string tex = ovseg::render_table(t, TableFormat::Latex);
  CHECK(tex.find("\\multicolumn{4}{c}{VOC20}") != std::string::npos);
  CHECK(tex.find("\\cmidrule(lr){2-5}") != std::string::npos);
  o.metric = "hIoU";
  t = ovseg::build_table({rec, make_record("plain", "voc20", 60.0)}, o);
  CHECK(t.header() == std::vector<std::string>{"Method", "VOC20", "Stuff"});
  CHECK(cell(t, "zs", "VOC20") == "53.3");
}

TEST_CASE("per-class table: classes as columns, --classes, unseen marked") {
  json a = make_record("a", "folder", 0, "2026-01-01T00:00:01Z", {{"grass", 80}, {"star", 5}, {"circle", 30}});
  json b = make_record("b", "folder", 0, "2026-01-01T00:00:02Z", {{"grass", 70}, {"star", 9}, {"circle", 35}});
  a["metrics"]["mIoU"] = 38.3;
  b["metrics"]["mIoU"] = 38.0;
  b["zero_shot"] = {{"unseen", {"star"}}, {"source", "world"}, {"mIoU_seen", 52.5},  {"mIoU_unseen", 9.0},
                    {"hIoU", 15.4},       {"seen_classes", 2}, {"unseen_classes", 1}};
  TableOptions o;
  o.per_class_dataset = "world";
  ComparisonTable t = ovseg::build_table({a, b}, o);
  CHECK(t.kind == "per-class");
  CHECK(t.header() == std::vector<std::string>{"Method", "grass", "star*", "circle", "mIoU", "seen", "unseen", "hIoU"});
  CHECK(rank(t, "a", "grass") == 1);
  CHECK(rank(t, "b", "star*") == 1);
  CHECK(rank(t, "a", "mIoU") == 1);
  o.classes = {"circle", "grass"};
  t = ovseg::build_table({a, b}, o);
  CHECK(t.header() == std::vector<std::string>{"Method", "circle", "grass", "mIoU", "seen", "unseen", "hIoU"});
  o.classes = {"stra"};
  CHECK_THROWS_WITH_AS(ovseg::build_table({a, b}, o), doctest::Contains("did you mean 'star'"), std::invalid_argument);
}

TEST_CASE("ablation table: one column per axis, ✓/✗ for booleans, metric columns and Avg") {
  ovseg::AblationInput in;
  in.name = "attention";
  in.axes = {"nodes.refine.attention", "nodes.refine.residual"};
  const std::vector<std::pair<std::vector<std::string>, std::pair<double, double>>> points = {
      {{"\"qq\"", "true"}, {30, 10}},
      {{"\"qq\"", "false"}, {40, 14}},
      {{"\"kk\"", "true"}, {28, 12}},
      {{"\"kk\"", "false"}, {38, 15}}};
  for (const auto& [values, miou] : points)
    in.points.push_back(
        {values, {make_record("vanilla", "coco_object", miou.first), make_record("vanilla", "ade20k", miou.second)}});
  const ComparisonTable t = ovseg::build_ablation_table(in, {});
  CHECK(t.kind == "ablation");
  CHECK(t.header() == std::vector<std::string>{"attention", "residual", "Object", "ADE", "Avg"});
  CHECK(t.row_text(1) == std::vector<std::string>{"qq", "✗", "40.0", "14.0", "27.0"});
  CHECK(t.row_text(2) == std::vector<std::string>{"kk", "✓", "28.0", "12.0", "20.0"});
  CHECK(t.rows[1].cells[2].rank == 1);  // Object best
  CHECK(t.rows[3].cells[2].rank == 2);
  CHECK(t.rows[3].cells[3].rank == 1);  // ADE best
  CHECK(t.rows[0].cells[0].rank == 0);  // axes are not ranked
  const std::string md = ovseg::render_table(t, TableFormat::Markdown);
  CHECK(md.find("| attention | residual | Object | ADE | Avg |\n| :---: | :---: | ---: | ---: | ---: |") !=
        std::string::npos);
  CHECK(md.find("| qq | ✗ | **40.0** | _14.0_ | **27.0** |") != std::string::npos);
  const std::string tex = ovseg::render_table(t, TableFormat::Latex);
  CHECK(tex.find("qq & $\\times$ & \\textbf{40.0}") != std::string::npos);
  CHECK(tex.find("kk & \\checkmark{} & \\underline{38.0}") == std::string::npos);  // kk/false is row 4
  CHECK(tex.find("kk & $\\times$ & \\underline{38.0} & \\textbf{15.0}") != std::string::npos);
  CHECK(tex.find("\\usepackage{amssymb}") != std::string::npos);
}

TEST_CASE("ablation from stored records: points found by the axis values in the resolved TOML") {
  const ovseg::SweepSpec sweep = ovseg::load_sweep(kSource + "/pipelines/sweeps/naclip_sigma.toml");
  const auto points = ovseg::sweep_points(sweep);
  std::vector<json> records;
  for (size_t i : {3u, 0u}) {  // sigma 7.0 and 0.0, stored out of order
    auto spec = ovseg::load_pipeline_spec(sweep.pipeline, points[i].overrides);
    RecordSpec r;
    r.pipeline = spec.name;
    r.dataset = "coco_object";
    r.miou = 10.0 + i;
    r.resolved_toml = spec.resolved_toml;
    records.push_back(make_record(r));
  }
  // Same name, another sigma than the sweep's: not a point.
  auto other = ovseg::load_pipeline_spec(sweep.pipeline, {ovseg::parse_override("nodes.refine.gaussian_std=4.0")});
  RecordSpec r;
  r.pipeline = other.name;
  r.dataset = "coco_object";
  r.miou = 99.0;
  r.resolved_toml = other.resolved_toml;
  records.push_back(make_record(r));

  CHECK(ovseg::sweep_point_of(sweep, points, records[0]["pipeline"]["resolved_toml"]) == std::optional<size_t>(3));
  CHECK_FALSE(ovseg::sweep_point_of(sweep, points, other.resolved_toml).has_value());
  const ovseg::AblationInput in = ovseg::ablation_from_records(sweep, records);
  REQUIRE(in.points.size() == points.size());
  CHECK(in.points[0].records.size() == 1);
  CHECK(in.points[1].records.empty());
  CHECK(in.points[3].records.at(0)["metrics"]["mIoU"] == 13.0);
  const ComparisonTable t = ovseg::build_ablation_table(in, {});
  CHECK(t.header() == std::vector<std::string>{"gaussian_std", "Object"});
  CHECK(t.row_text(0) == std::vector<std::string>{"0.0", "10.0"});
  CHECK(t.row_text(1) == std::vector<std::string>{"3.0", "-"});
  CHECK(t.footer.at(0).find("3 point(s) without a stored record") == 0);
}

TEST_CASE("table --rows SWEEP: one precision's records; a newer bf16 run does not replace fp32") {
  const ovseg::SweepSpec sweep = ovseg::load_sweep(kSource + "/pipelines/sweeps/naclip_sigma.toml");
  const auto points = ovseg::sweep_points(sweep);
  std::vector<json> records;
  for (const auto& [precision, miou, date] :
       std::vector<std::tuple<std::string, double, std::string>>{{"", 10.0, "2026-01-01T00:00:01Z"},
                                                                 {"bf16", 11.0, "2026-01-01T00:00:02Z"}}) {
    auto spec = ovseg::load_pipeline_spec(sweep.pipeline, points[0].overrides);
    RecordSpec r;
    r.pipeline = spec.name;
    r.dataset = "coco_object";
    r.miou = miou;
    r.date = date;
    r.resolved_toml = spec.resolved_toml;
    records.push_back(make_record(r));
    if (!precision.empty()) records.back()["precision"] = precision;  // fp32 records carry none (before --precision)
  }
  CHECK(ovseg::ablation_from_records(sweep, records).points[0].records.at(0)["metrics"]["mIoU"] == 10.0);
  CHECK(ovseg::ablation_from_records(sweep, records, "bf16").points[0].records.at(0)["metrics"]["mIoU"] == 11.0);
  CHECK(ovseg::ablation_from_records(sweep, records, "fp16").points[0].records.empty());
}

TEST_CASE("LaTeX: a complete table environment with booktabs and a caption stating the protocol") {
  std::vector<json> records = three_methods();
  records.push_back(make_record("under_score & #1", "voc21", 1.0, "2026-01-01T00:00:09Z"));
  const ComparisonTable t = ovseg::build_table(records, {});
  const std::string tex = ovseg::render_table(t, TableFormat::Latex);
  CHECK(tex.find("\\begin{table}[t]") != std::string::npos);
  CHECK(tex.find("\\centering") != std::string::npos);
  CHECK(tex.find("\\begin{tabular}{lcccc}") != std::string::npos);  // no Avg: the new row has VOC21 only
  for (const char* rule : {"\\toprule", "\\midrule", "\\bottomrule", "\\end{tabular}", "\\end{table}"})
    CHECK_MESSAGE(count(tex, rule) == 1, rule);
  CHECK(tex.find("\\caption{mIoU (\\%) on VOC21, PC60, Object, ADE. Reproduced rows: one harness for every method, "
                 "short side 336, 224/112 sliding window.") != std::string::npos);
  CHECK(tex.find("\\label{tab:ovseg-miou}") != std::string::npos);
  CHECK(tex.find("under\\_score \\& \\#1") != std::string::npos);
  // Every body line has one cell per column; braces balance.
  const auto begin = tex.find("\\toprule"), end = tex.find("\\bottomrule");
  std::istringstream body(tex.substr(begin, end - begin));
  std::string line;
  int rows = 0;
  while (std::getline(body, line)) {
    if (line.find("\\\\") == std::string::npos) continue;
    ++rows;
    size_t amps = 0;
    for (size_t i = 0; i < line.size(); ++i) amps += line[i] == '&' && (i == 0 || line[i - 1] != '\\');
    CHECK_MESSAGE(amps == t.columns.size() - 1, line);
  }
  CHECK(rows == 1 + 4);
  long depth = 0;
  for (size_t i = 0; i < tex.size(); ++i)
    if (tex[i] == '{' && (i == 0 || tex[i - 1] != '\\'))
      ++depth;
    else if (tex[i] == '}' && (i == 0 || tex[i - 1] != '\\'))
      --depth;
  CHECK(depth == 0);

  // When a LaTeX engine is installed, the table must compile.
  if (std::system("command -v pdflatex > /dev/null 2>&1") == 0) {
    const fs::path dir = fs::temp_directory_path() / ("ovseg_latex_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    TableOptions o;
    o.published = ovseg::load_published(kSource + "/results/published");
    o.with_published = true;
    json zs = make_record("zs", "voc20", 70.0);
    zs["zero_shot"] = {{"unseen", {"tree"}}, {"source", "t"},     {"mIoU_seen", 80.0},  {"mIoU_unseen", 40.0},
                       {"hIoU", 53.3},       {"seen_classes", 1}, {"unseen_classes", 1}};
    records.push_back(zs);
    records.push_back(make_record("naclip+pamr", "voc21", 60.0));
    ovseg::AblationInput in{"ablation",
                            {"nodes.refine.residual"},
                            {{{"true"}, {records[0]}}, {{"false"}, {records[1]}}}};
    std::ofstream(dir / "t.tex") << "\\documentclass{article}\\usepackage{booktabs}\\usepackage{amssymb}"
                                    "\\usepackage[utf8]{inputenc}\\begin{document}\n"
                                 << ovseg::render_table(ovseg::build_table(records, o), TableFormat::Latex)
                                 << ovseg::render_table(ovseg::build_ablation_table(in, {}), TableFormat::Latex)
                                 << "\\end{document}\n";
    const std::string cmd = "cd '" + dir.string() +
                            "' && pdflatex -interaction=nonstopmode -halt-on-error t.tex > log.txt 2>&1";
    const int rc = std::system(cmd.c_str());
    std::ifstream log(dir / "log.txt");
    std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    CHECK_MESSAGE(rc == 0, text.substr(text.size() > 3000 ? text.size() - 3000 : 0));
    fs::remove_all(dir);
  } else {
    MESSAGE("pdflatex not installed: the LaTeX output was checked structurally only");
  }
}

TEST_CASE("rows of one pipeline under different protocols stay apart, tagged") {
  RecordSpec a, b;
  a.pipeline = b.pipeline = "p";
  a.dataset = b.dataset = "voc21";
  a.miou = 50.0;
  b.miou = 40.0;
  b.short_side = 224;
  b.sha = std::string(64, 'b');
  const ComparisonTable t = ovseg::build_table({make_record(a), make_record(b)}, {});
  CHECK(labels(t) == std::vector<std::string>{"p [short_side=224]", "p [short_side=336]"});
  std::string notes;
  for (const auto& f : t.footer) notes += f + "\n";
  const auto line = notes.find("protocol of p [short_side=224]: ");
  REQUIRE(line != std::string::npos);
  CHECK(notes.substr(line, notes.find('\n', line) - line).find("short_side=224") != std::string::npos);
  CHECK(t.caption.find("differ in protocol") != std::string::npos);
}

TEST_CASE("NACLIP's Table 1 from the shipped layout: eight benchmarks, Avg, published rows beside ours, Δ") {
  const ovseg::TableLayout l = ovseg::load_table_layout(kSource + "/results/layouts/naclip_table1.toml");
  TableOptions o;
  o.groups = l.groups;
  o.datasets = l.datasets;
  o.avg_over = l.avg_over;
  o.published = ovseg::load_published(kSource + "/results/published");
  std::vector<json> records;
  const std::vector<std::string> eight = {"voc21",     "context60",     "coco_object", "voc20",
                                          "context59", "coco_stuff171", "cityscapes",  "ade20k"};
  for (size_t i = 0; i < eight.size(); ++i) records.push_back(make_record("naclip+pamr", eight[i], 30.0 + i));
  records.push_back(make_record("vanilla", "coco_object", 9.0));
  records.push_back(make_record("unrelated", "coco_object", 1.0));
  const ComparisonTable t = ovseg::build_table(records, o);
  CHECK(t.header() == std::vector<std::string>{"Method", "VOC21", "PC60", "Object", "VOC20", "PC59", "Stuff", "City",
                                               "ADE", "Avg", "Δ"});
  CHECK(labels(t) == std::vector<std::string>{"CLIP", "MaskCLIP", "SCLIP", "ClearCLIP", "CLIPtrase", "NACLIP + PAMR",
                                              "CLIP", "NACLIP + PAMR"});
  CHECK(t.rows[0].group == "Training-free (published)");
  CHECK(t.rows[6].group == "Reproduced with ovseg (same harness for every row)");
  CHECK(t.rows[6].cells[3].text == "9.0");
  CHECK(t.rows[6].cells[10].text == "+0.9");  // 9.0 - 8.1 on Object
  CHECK(t.rows[7].cells[9].text == "33.5");   // mean of 30..37
  CHECK(t.rows[7].cells[10].text == "-9.0");  // 33.5 - 42.455
  CHECK(t.rows[4].cells[7].text == "-");      // CLIPtrase prints no Cityscapes
  CHECK(t.rows[4].cells[9].text == "-");      // so no Avg over the eight
  std::string notes;
  for (const auto& f : t.footer) notes += f + "\n";
  CHECK(notes.find("named by the row layout but not stored: maskclip, sclip, clearclip, cliptrase, naclip") !=
        std::string::npos);
  CHECK(notes.find("stored but not in the row layout (not shown): unrelated") != std::string::npos);
  const std::string tex = ovseg::render_table(t, TableFormat::Latex);
  CHECK(tex.find("\\multicolumn{11}{l}{\\textit{Training-free (published)}} \\\\") != std::string::npos);
  CHECK(tex.find("CLIP~\\cite{radford2021learning}$^\\dagger$ & 18.8 & 9.9 & 8.1 & 49.4 & 11.1 & 5.7 & 6.5 & 3.1 & "
                 "14.1 & - \\\\") != std::string::npos);
  // Avg as the papers print it (from unrounded numbers): MaskCLIP 30.3, not 30.25 from the printed ones.
  CHECK(t.rows[1].cells[9].text == "30.3");
}

TEST_CASE("published files: mistakes name the file and line") {
  const fs::path dir = fs::temp_directory_path() / ("ovseg_published_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto error_of = [&](const std::string& rows) {
    std::ofstream(dir / "p.toml") << "[paper]\nkey = \"k\"\ntitle = \"T\"\n\n[[row]]\nid = \"r\"\nmethod = \"M\"\n"
                                     "backbone = \"ViT-B/16\"\ngroup = \"Training-free\"\nsource = \"Table 1\"\n"
                                  << rows;
    try {
      ovseg::load_published((dir / "p.toml").string());
    } catch (const ovseg::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of("mIoU = { voc21 = 50.0 }\n") == "no error");
  CHECK(error_of("mIoU = { VOC22 = 50.0 }\n").find("p.toml:11:") != std::string::npos);
  CHECK(error_of("mIoU = { voc21 = 150.0 }\n").find("percentage") != std::string::npos);
  CHECK(error_of("mIoU = { voc21 = 50.0 }\navg = { mAcc = 3.0 }\n").find("avg.mAcc without mAcc numbers") !=
        std::string::npos);
  CHECK(error_of("miou = { voc21 = 50.0 }\n").find("did you mean 'mIoU'") != std::string::npos);
  CHECK(error_of("").find("has no numbers") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("stored records: a truncated, corrupt or schema-bad file is named and skipped, not dumped") {
  const fs::path dir = fs::temp_directory_path() / ("ovseg_tables_bad_records_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string good = make_record("Good", "VOC", 50).dump();
  auto write = [&](const std::string& name, const std::string& text) { std::ofstream(dir / name) << text; };
  write("a_good.json", good);
  write("b_truncated.json", good.substr(0, good.size() / 2));
  json bad_type = make_record("BadType", "VOC", 40);
  bad_type["selection"]["shard"]["count"] = "1";
  write("c_schema.json", bad_type.dump());
  json no_metrics = make_record("NoMetrics", "VOC", 40);
  no_metrics.erase("metrics");
  write("d_no_metrics.json", no_metrics.dump());
  write("e_kind.json", R"({"kind": 5, "mIoU": "high"})");  // once a raw [json.exception.type_error.302]

  std::ostringstream err;
  std::streambuf* old = std::cerr.rdbuf(err.rdbuf());
  std::vector<json> records;
  try {
    records = ovseg::load_records(dir.string());
  } catch (...) {
    std::cerr.rdbuf(old);
    throw;
  }
  std::cerr.rdbuf(old);
  fs::remove_all(dir);
  const std::string warnings = err.str();
  MESSAGE(warnings);
  REQUIRE(records.size() == 1);
  CHECK(records[0]["pipeline"]["name"] == "Good");
  CHECK(warnings.find("b_truncated.json: not a valid JSON file (truncated after ") != std::string::npos);
  CHECK(warnings.find("c_schema.json: not an eval record as ovseg writes it: field "
                      "'selection.shard.count' is string, expected number") != std::string::npos);
  CHECK(warnings.find("d_no_metrics.json: not an eval record as ovseg writes it: field 'metrics' is missing") !=
        std::string::npos);
  CHECK(warnings.find("e_kind.json: not an eval record as ovseg writes it: field 'kind' is number") !=
        std::string::npos);
  CHECK(warnings.size() < 1000);  // no record text quoted
  CHECK(warnings.find("Good") == std::string::npos);
}
