// The embedded default: the shipped model, the demo file, and `ovseg demo`
// end to end with its quality bar on world v2 (best training-free pipeline
// >= 20% mIoU, 30 classes; at least 8 of the 24 thing classes segmented at
// >= 15% IoU by some pipeline; the shipped model gives 24.4 and 10).
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>

#include <nlohmann/json.hpp>

#include "../eval/eval_test_util.hpp"
#include "ovseg/host/demo_spec.hpp"
#include "ovseg/host/results_store.hpp"
#include "ovseg/models/clip_model.hpp"
#include "ovseg/sdk/diagnostics.hpp"
#include "ovseg/world/world.hpp"

using namespace ovseg;
using eval_test::TempDir;

namespace {
const std::string kDemoFile = eval_test::kSourceDir + "/pipelines/demo.toml";
const std::string kModel = eval_test::kSourceDir + "/host/models/embedded/world-clip.safetensors";
}  // namespace

TEST_CASE("the shipped model: at most 8 MB, world geometry, loads") {
  CHECK(std::filesystem::file_size(kModel) <= 8'000'000u);
  const auto m = models::ClipModel::load(kModel);
  CHECK(m->geometry() == models::clip_geometry_preset("world"));
}

TEST_CASE("demo file: parses; errors name the file, line and key") {
  const DemoSpec spec = load_demo_spec(kDemoFile);
  CHECK(spec.runs.size() >= 8);
  CHECK(spec.world_version == world::kLatestWorldVersion);
  CHECK(std::filesystem::equivalent(spec.model, kModel));
  TempDir tmp;
  eval_test::write_file(tmp.file("d.toml"), "[demo]\nmodel = \"" + kModel +
                                                "\"\nval_scene = 3\n[[run]]\nname = \"x\"\npipeline = \"" +
                                                eval_test::kSourceDir + "/pipelines/maskclip.toml\"\n");
  CHECK_THROWS_WITH_AS(load_demo_spec(tmp.file("missing.toml")), doctest::Contains("demo file not found"), Error);
  try {
    load_demo_spec(tmp.file("d.toml"));
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.where().line == 3);
    CHECK(std::string(e.what()).find("did you mean 'val_scenes'") != std::string::npos);
  }
}

TEST_CASE("ovseg demo: every run stored, the table printed, the quality bar holds") {
  TempDir tmp;
  const auto r = eval_test::run_cli("demo --out '" + tmp.file("demo") + "' --plugin-dir '" OVSEG_TEST_PLUGIN_DIR "'",
                                    "OVSEG_PLUGIN_PATH=");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const DemoSpec spec = load_demo_spec(kDemoFile);
  const auto records = load_records(tmp.file("demo/runs"));
  CHECK(records.size() == spec.runs.size());
  double best = 0;
  std::string best_name;
  std::map<std::string, double> best_thing_iou;  // over the pipelines
  const auto& classes = world::world_classes(spec.world_version);
  for (const auto& rec : records) {
    CHECK(rec["selection"]["num_images"] == spec.val_scenes);
    const double miou = rec["metrics"]["mIoU"].get<double>();
    if (miou > best) best = miou, best_name = rec["pipeline"]["name"].get<std::string>();
    const auto& per_class = rec["metrics"]["per_class"];
    REQUIRE(per_class.size() == classes.size());
    for (size_t c = 0; c < classes.size(); ++c)
      if (classes[c].thing)
        best_thing_iou[classes[c].name] = std::max(best_thing_iou[classes[c].name], per_class[c]["iou"].get<double>());
  }
  MESSAGE("best training-free pipeline on the world: " << best_name << " " << best << "% mIoU");
  CHECK(best >= 20.0);
  // Objects, not only the stuff around them, are segmented.
  int things_found = 0;
  for (const auto& [name, iou] : best_thing_iou) things_found += iou >= 15.0;
  MESSAGE(things_found << " of " << best_thing_iou.size() << " thing classes at >= 15% IoU in some pipeline");
  CHECK(things_found >= 8);
  CHECK(r.output.find("chance level") != std::string::npos);
  CHECK(r.output.find("| Method | grass | water | sand |") != std::string::npos);
  CHECK(eval_test::read_file(tmp.file("demo/report.html")).find("<table class='grid'>") != std::string::npos);
  CHECK(std::filesystem::file_size(tmp.file("demo/report.html")) > 10000);
  CHECK(r.output.find("| world SAM, single-mask output |") != std::string::npos);  // demo_sam.cpp
  // A second run reuses the stored records.
  const auto again = eval_test::run_cli("demo --out '" + tmp.file("demo") +
                                            "' --plugin-dir '" OVSEG_TEST_PLUGIN_DIR "'",
                                        "OVSEG_PLUGIN_PATH=");
  CHECK(again.exit_code == 0);
  CHECK(again.output.find("(stored)") != std::string::npos);
}
