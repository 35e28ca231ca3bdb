// `ovseg eval` on the COCO-Object sample: the stored record, resume after a
// SIGKILL, shard merge and `ovseg table` from stored records.
// ATen before doctest: c10 defines its own CHECK, doctest must win.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <torch/version.h>

#include "eval_test_util.hpp"
#include "ovseg/harness/confusion_matrix.hpp"
#include "ovseg/host/device.hpp"
#include "ovseg/host/results_store.hpp"
#include "ovseg/host/tables.hpp"

using namespace eval_test;
using nlohmann::json;

namespace {

std::string eval_args(const std::string& results, const std::string& extra) {
  return "eval '" + kColourPipeline + "' --dataset coco_object --data-root '" + kCocoRoot + "' --results '" + results +
         "' --quiet " + extra;
}

json only_record(const std::string& dir) {
  auto records = ovseg::load_records(dir);
  REQUIRE(records.size() == 1);
  return records[0];
}

ovseg::harness::ConfusionMatrix cm_of(const json& r) {
  return ovseg::harness::ConfusionMatrix::from_json(r.at("confusion_matrix"));
}

}  // namespace

TEST_CASE("ovseg eval stores a complete record; resume after SIGKILL; shards merge exactly; table") {
  TempDir tmp;
  const std::string full = tmp.file("full"), killed = tmp.file("killed"), shards = tmp.file("shards");

  // 1. An uninterrupted run over the first 4 images.
  CliResult r = run_cli(eval_args(full, "--limit 4 --save-predictions '" + tmp.file("pred") + "'"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const json rec = only_record(full);
  CHECK(rec["kind"] == "ovseg-eval-record");
  CHECK(rec["pipeline"]["name"] == "colour-prototypes");
  CHECK(rec["pipeline"]["sha256"].get<std::string>().size() == 64);
  CHECK(rec["pipeline"]["resolved_toml"].get<std::string>().find("pixel_features") != std::string::npos);
  CHECK(rec["dataset"]["name"] == "coco_object");
  CHECK(rec["dataset"]["split"] == "val");
  CHECK(rec["dataset"]["num_classes"] == 81);
  CHECK(rec["protocol"] == json{{"mode", "slide"},
                                {"short_side", 336},
                                {"max_long_side", 2048},
                                {"window", 224},
                                {"stride", 112},
                                {"prob_thd", 0.0},
                                {"area_thd", 0.0}});
  CHECK(rec["selection"]["limit"] == 4);
  CHECK(rec["selection"]["num_images"] == 4);
  CHECK(rec["selection"]["shard"]["count"] == 1);
  CHECK(rec["models"].is_array());
  // No --device: the host picks cuda where a GPU is visible, else the CPU.
  CHECK(rec["device"]["name"] == ovseg::default_device());
  CHECK(rec["versions"]["libtorch"] == TORCH_VERSION);  // 1.13 (Debian) or 2.x (build_torch2.sh)
  CHECK(rec["device"]["kind"] == (ovseg::cuda_available() ? "cuda" : "cpu"));
  CHECK(rec["device"]["libtorch"] == TORCH_VERSION);
  CHECK(rec["device"]["gpu"].is_null() == !ovseg::cuda_available());
  CHECK(rec["versions"].contains("git_commit"));
  CHECK(rec["date"].get<std::string>().size() == 20);
  CHECK(rec["metrics"]["per_class"].size() == 81);
  CHECK(rec["metrics"]["mIoU"].is_number());
  CHECK(rec["metrics"]["mIoU"].get<double>() == doctest::Approx(rec["mIoU"].get<double>()));
  CHECK(rec["timings"]["per_node_ms"].contains("encoder"));
  CHECK(rec["timings"]["total_s"].get<double>() > 0);
  const auto full_cm = cm_of(rec);
  // Every labelled pixel of the 4 images is counted (COCO-Object has no void).
  std::int64_t pixels = 0;
  for (const auto& c : rec["metrics"]["per_class"]) pixels += c["gt_pixels"].get<std::int64_t>();
  CHECK(full_cm.total() == pixels);
  CHECK(full_cm.total() > 4 * 100000);
  CHECK(json_files(tmp.file("pred")).size() == 4);
  // Comparison images for the report: the pool (here every one of the 4
  // images) in pool order, each with a JPEG thumbnail, label thumbnails and
  // exact per-class counts; a few kB each.
  REQUIRE(rec["qualitative"]["format"] == "pool-v1");
  const json& pool = rec["qualitative"]["images"];
  REQUIRE(pool.size() == 4);
  for (size_t i = 0; i < pool.size(); ++i) {
    CHECK(pool[i]["rank"] == i);
    CHECK(std::find(rec["selection"]["ids"].begin(), rec["selection"]["ids"].end(), pool[i]["id"]) !=
          rec["selection"]["ids"].end());
    CHECK(pool[i]["image"].get<std::string>().rfind("/9j/", 0) == 0);
    std::int64_t counted = 0;
    for (const auto& c : pool[i]["classes"]) counted += c[1].get<std::int64_t>();
    CHECK(counted == std::int64_t{pool[i]["width"]} * std::int64_t{pool[i]["height"]});  // COCO-Object: no void
    CHECK(pool[i].dump().size() < 16000);
  }
  // The file name is the run's key: no partial checkpoint is left behind.
  CHECK((json_files(full) == std::vector<std::string>{rec["key"].get<std::string>() + ".json"}));

  // A rerun finds the stored record instead of running again.
  r = run_cli(eval_args(full, "--limit 4"));
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("already stored") != std::string::npos);
  CHECK(only_record(full)["date"] == rec["date"]);

  // 2. Killed after 2 images (checkpoint every image), then resumed.
  r = run_cli(eval_args(killed, "--limit 4 --checkpoint-every 1"), "OVSEG_EVAL_KILL_AFTER=2");
  CHECK(r.exit_code == 128 + 9);
  auto files = json_files(killed);
  REQUIRE(files.size() == 1);
  CHECK(files[0].find(".partial.json") != std::string::npos);  // no final record
  const json partial = json::parse(read_file(killed + "/" + files[0]));
  CHECK(partial["done_ids"].size() == 2);
  r = run_cli(eval_args(killed, "--limit 4 --checkpoint-every 1"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("2 from a checkpoint") != std::string::npos);
  const json resumed = only_record(killed);
  CHECK(resumed["timings"]["resumed_images"] == 2);
  CHECK(resumed["selection"]["ids"] == rec["selection"]["ids"]);
  CHECK(cm_of(resumed) == full_cm);
  CHECK(resumed["qualitative"]["images"] == rec["qualitative"]["images"]);  // resume keeps the pool
  CHECK(json_files(killed).size() == 1);                                    // the checkpoint is gone

  // 3. Two shards, merged, equal the unsharded run exactly.
  REQUIRE(run_cli(eval_args(shards, "--limit 4 --shard 0/2")).exit_code == 0);
  REQUIRE(run_cli(eval_args(shards, "--limit 4 --shard 1/2")).exit_code == 0);
  auto shard_records = ovseg::load_records(shards);
  REQUIRE(shard_records.size() == 2);
  CHECK(shard_records[0]["selection"]["num_images"] == 2);
  CHECK(cm_of(shard_records[0]) != full_cm);
  const std::string merged_path = tmp.file("merged.json");
  r = run_cli("merge '" + shard_records[0]["_file"].get<std::string>() + "' '" +
              shard_records[1]["_file"].get<std::string>() + "' --out '" + merged_path + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const json merged = json::parse(read_file(merged_path));
  CHECK(cm_of(merged) == full_cm);
  CHECK(merged["key"] == rec["key"]);
  CHECK(merged["metrics"]["mIoU"].get<double>() == doctest::Approx(rec["metrics"]["mIoU"].get<double>()));
  // Each shard stored its part of the same pool; merged, it is the whole.
  CHECK(shard_records[0]["qualitative"]["images"].size() + shard_records[1]["qualitative"]["images"].size() == 4);
  CHECK(merged["qualitative"]["images"] == rec["qualitative"]["images"]);

  // Records of different runs are refused, naming the field.
  json other = shard_records[1];
  other["protocol"]["short_side"] = 448;
  other.erase("_file");
  ovseg::write_json_atomic(tmp.file("other.json"), other);
  r = run_cli("merge '" + shard_records[0]["_file"].get<std::string>() + "' '" + tmp.file("other.json") + "' --out '" +
              tmp.file("bad.json") + "'");
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("protocol differs") != std::string::npos);
  r = run_cli("merge '" + shard_records[0]["_file"].get<std::string>() + "' --out '" + tmp.file("bad.json") + "'");
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("shard 1/2 is missing") != std::string::npos);

  // 4. A table from two stored records of the same pipeline under two
  // protocols: two rows, tagged with the differing knob, never mixed.
  REQUIRE(run_cli(eval_args(full, "--limit 4 --set protocol.short_side=224")).exit_code == 0);
  const auto records = ovseg::load_records(full);
  REQUIRE(records.size() == 2);
  r = run_cli("table --results '" + full + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  char buf[32];
  for (const auto& x : records) {
    std::snprintf(buf, sizeof buf, "%.1f", x["metrics"]["mIoU"].get<double>());
    CHECK(r.output.find(buf) != std::string::npos);
  }
  CHECK(r.output.find("| colour-prototypes [short_side=224] |") != std::string::npos);
  CHECK(r.output.find("| colour-prototypes [short_side=336] |") != std::string::npos);
  CHECK(r.output.find("| Method | Object |") != std::string::npos);
  CHECK(r.output.find("short_side=224, stride=112") != std::string::npos);  // footer knobs

  ovseg::TableOptions per_class_options;
  per_class_options.per_class_dataset = "coco_object";
  const auto per_class = ovseg::build_table(records, per_class_options);
  CHECK(per_class.header().size() == 1 + 81 + 1);
  CHECK(per_class.rows.size() == 2);
  const std::string csv = ovseg::render_table(ovseg::build_table(records, {}), ovseg::TableFormat::Csv);
  CHECK(csv.rfind("Method,Object\n", 0) == 0);

  // Rows in a chosen order, LaTeX to a file, published rows beside ours.
  write_file(tmp.file("rows.txt"), "colour-prototypes [short_side=336]\ncolour-prototypes [short_side=224]\n");
  r = run_cli("table --results '" + full + "' --rows '" + tmp.file("rows.txt") + "' --out '" + tmp.file("t.tex") + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const std::string tex = read_file(tmp.file("t.tex"));
  CHECK(tex.find("\\begin{table}[t]") != std::string::npos);
  CHECK(tex.find("\\begin{tabular}{lc}") != std::string::npos);
  CHECK(tex.find("colour-prototypes [short\\_side=336]") < tex.find("colour-prototypes [short\\_side=224]"));
  r = run_cli("table --results '" + full + "' --with-published --datasets Object,ADE --avg all");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("| Method | Object | ADE | Avg |") != std::string::npos);
  CHECK(r.output.find("| NACLIP (ViT-B/16)† | _36.2_ | 19.1 | _27.6_ |") !=
        std::string::npos);  // CLIPtrase leads Object and Avg
  CHECK(r.output.find("| *Reproduced (ovseg)* |") != std::string::npos);
  r = run_cli("table --results '" + full + "' --metric mIoUU");
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("unknown metric 'mIoUU'") != std::string::npos);

  // The HTML report: table, heat map, bars, the grid of the pool images.
  r = run_cli("table --results '" + full + "' --out '" + tmp.file("report/r.html") + "' --images worst --num-images 3");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const std::string html = read_file(tmp.file("report/r.html"));
  CHECK(html.find("<svg") != std::string::npos);
  CHECK(html.find("http://") == html.find("http://www.w3.org/2000/svg"));  // self-contained
  CHECK(html.find("<table class='heat sortable'") != std::string::npos);
  CHECK(html.find("src='data:image/jpeg;base64,/9j/") != std::string::npos);
  CHECK(html.find("src='data:image/png;base64,") != std::string::npos);
  size_t grid_rows = 0;
  for (size_t p = html.find("<td class='id'>"); p != std::string::npos; p = html.find("<td class='id'>", p + 1))
    ++grid_rows;
  CHECK(grid_rows == 3);
}

TEST_CASE("ovseg eval: command-line and protocol mistakes") {
  TempDir tmp;
  CliResult r = run_cli(eval_args(tmp.file("r"), "--limit 1 --shard 2/2"));
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("0 <= i < N") != std::string::npos);
  r = run_cli(eval_args(tmp.file("r"), "--limit 1 --set protocol.windw=100"));
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("did you mean 'window'") != std::string::npos);
  r = run_cli("eval '" + kColourPipeline + "' --dataset coco_objekt --data-root '" + kCocoRoot + "'");
  CHECK(r.exit_code == 1);
  // An unwritable --save-predictions folder is named before any image runs.
  r = run_cli(eval_args(tmp.file("r"), "--limit 1 --save-predictions /proc/ovseg-predictions"));
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("/proc/ovseg-predictions: error: cannot write --save-predictions here") != std::string::npos);
  CHECK(r.output.find("filesystem error") == std::string::npos);
}

TEST_CASE("ovseg eval: an unusable resume checkpoint says what to do; --force discards it") {
  TempDir tmp;
  const std::string dir = tmp.file("r");
  REQUIRE(run_cli(eval_args(dir, "--limit 1")).exit_code == 0);
  const json stored = only_record(dir);
  const std::string record = stored["_file"];
  const std::string partial = record.substr(0, record.size() - 5) + ".partial.json";
  // The right run's checkpoint with a field of the wrong type.
  const json wrong_field = {{"kind", ovseg::kPartialKind},
                            {"key", stored["key"]},
                            {"pipeline_sha256", stored["pipeline"]["sha256"]},
                            {"confusion_matrix", stored["confusion_matrix"]},
                            {"done_ids", "x"},
                            {"per_node_ms", json::object()},
                            {"elapsed_s", 1.0}};
  for (const std::string& bad : {std::string("{\"kind\": \"ovseg-eval-"), std::string(), wrong_field.dump()}) {
    CAPTURE(bad);
    fs::remove(record);
    write_file(partial, bad);
    CliResult r = run_cli(eval_args(dir, "--limit 1"));
    CHECK(r.exit_code == 1);
    CHECK(r.output.find(partial + ": cannot resume from this checkpoint") != std::string::npos);
    CHECK(r.output.find("rerun with --force") != std::string::npos);
    CHECK(r.output.find("[json.exception") == std::string::npos);
    r = run_cli(eval_args(dir, "--limit 1 --force"));
    CHECK(r.exit_code == 0);
    CHECK(r.output.find("discarded the unusable checkpoint " + partial) != std::string::npos);
    CHECK_FALSE(fs::exists(partial));
  }
}
