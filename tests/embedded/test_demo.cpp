// The embedded default: the shipped model, the demo file, and `ovseg demo`
// end to end with its quality bar (best training-free pipeline >= 40% mIoU).
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <filesystem>
#include <regex>

#include <nlohmann/json.hpp>

#include "../eval/eval_test_util.hpp"
#include "ovseg/host/demo_spec.hpp"
#include "ovseg/host/results_store.hpp"
#include "ovseg/models/clip_model.hpp"
#include "ovseg/sdk/diagnostics.hpp"

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
  for (const auto& rec : records) {
    CHECK(rec["selection"]["num_images"] == spec.val_scenes);
    const double miou = rec["metrics"]["mIoU"].get<double>();
    if (miou > best) best = miou, best_name = rec["pipeline"]["name"].get<std::string>();
  }
  MESSAGE("best training-free pipeline on the world: " << best_name << " " << best << "% mIoU");
  CHECK(best >= 40.0);
  CHECK(r.output.find("chance level") != std::string::npos);
  CHECK(r.output.find("| pipeline | grass | water | sand |") != std::string::npos);
  CHECK(std::filesystem::file_size(tmp.file("demo/report.html")) > 10000);
  CHECK(r.output.find("| world SAM, single-mask output |") != std::string::npos);  // demo_sam.cpp
  // A second run reuses the stored records.
  const auto again = eval_test::run_cli("demo --out '" + tmp.file("demo") + "' --plugin-dir '" OVSEG_TEST_PLUGIN_DIR "'",
                                        "OVSEG_PLUGIN_PATH=");
  CHECK(again.exit_code == 0);
  CHECK(again.output.find("(stored)") != std::string::npos);
}
