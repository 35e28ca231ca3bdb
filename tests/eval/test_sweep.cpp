// ovseg sweep: sweep files, the grid of points, stored points skipped, the
// ablation table.
#include <doctest/doctest.h>

#include "eval_test_util.hpp"
#include "ovseg/host/graph.hpp"
#include "ovseg/host/sweep.hpp"
#include "ovseg/sdk/diagnostics.hpp"

using namespace eval_test;

namespace {

std::string sweep_file(const TempDir& dir, const std::string& body) {
  const std::string path = dir.file("sweep.toml");
  write_file(path, "[sweep]\nname = \"smoothing\"\npipeline = \"" + kColourPipeline +
                       "\"\ndatasets = [\"coco_object\"]\nlimit = 2\n" + body);
  return path;
}

}  // namespace

TEST_CASE("sweep files: axes in file order, cartesian product, fixed overrides first") {
  TempDir dir;
  const std::string path = sweep_file(dir,
                                      "set = [\"nodes.labels.background_index=0\"]\n"
                                      "[data_roots]\ncoco_object = \"" +
                                          kCocoRoot +
                                          "\"\n"
                                          "[axes]\n\"nodes.refine.temperature\" = [0.05, 0.5]\n"
                                          "\"nodes.encoder.patch_size\" = [8, 16, 32]\n");
  ovseg::SweepSpec spec = ovseg::load_sweep(path);
  CHECK(spec.name == "smoothing");
  CHECK(spec.limit == 2);
  REQUIRE(spec.axes.size() == 2);
  CHECK(spec.axes[0].path == "nodes.refine.temperature");  // file order, not key order
  CHECK(spec.data_roots.at("coco_object") == kCocoRoot);
  auto points = ovseg::sweep_points(spec);
  REQUIRE(points.size() == 6);
  CHECK(points[0].label == "temperature=0.05, patch_size=8");
  CHECK(points[5].label == "temperature=0.5, patch_size=32");
  REQUIRE(points[5].overrides.size() == 3);
  CHECK(points[5].overrides[0].original == "nodes.labels.background_index=0");
  CHECK(points[5].overrides[2].value_text == "32");
}

TEST_CASE("sweep files: errors name the file, line and key") {
  TempDir dir;
  auto error_of = [&](const std::string& body) {
    try {
      ovseg::load_sweep(sweep_file(dir, body));
    } catch (const ovseg::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of("").find("no [axes]") != std::string::npos);
  CHECK(error_of("[axes]\n\"nodes.refine.temperature\" = []\n").find("non-empty array") != std::string::npos);
  const std::string typo = error_of("limt = 3\n[axes]\n\"nodes.refine.temperature\" = [0.1]\n");
  CHECK(typo.find("sweep.toml:6:") != std::string::npos);
  CHECK(typo.find("did you mean 'limit'") != std::string::npos);
  CHECK(error_of("[axis]\n").find("did you mean 'axes'") != std::string::npos);
}

TEST_CASE("ovseg sweep runs every point once, skips stored points, prints the ablation table") {
  TempDir dir;
  const std::string path = sweep_file(dir, "[axes]\n\"nodes.refine.temperature\" = [0.05, 0.5]\n");
  const std::string args = "sweep " + path + " --data-root coco_object=" + kCocoRoot + " --quiet --results " +
                           dir.file("runs") + " --out " + dir.file("table.md");
  CliResult first = run_cli(args);
  REQUIRE_MESSAGE(first.exit_code == 0, first.output);
  CHECK(json_files(dir.file("runs")).size() == 2);
  // The ablation as papers print it: the axis as a column, then the metric.
  CHECK(first.output.find("| temperature | Object |") != std::string::npos);
  CHECK(first.output.find("| 0.05 | ") != std::string::npos);
  CHECK(first.output.find("| 0.5 | ") != std::string::npos);
  const std::string printed = read_file(dir.file("table.md"));
  CHECK(printed.find("| temperature | Object |") != std::string::npos);
  // `ovseg table --rows SWEEP` rebuilds the same table from the stored records.
  CliResult again = run_cli("table --rows " + path + " --results " + dir.file("runs"));
  REQUIRE_MESSAGE(again.exit_code == 0, again.output);
  CHECK(again.output == printed);

  CliResult second = run_cli(args);
  REQUIRE(second.exit_code == 0);
  CHECK(second.output.find("stored earlier") != std::string::npos);
  CHECK(json_files(dir.file("runs")).size() == 2);

  // A bad value on any point fails before anything runs.
  const std::string bad = sweep_file(dir, "[axes]\n\"nodes.refine.temperature\" = [0.05, \"hot\"]\n");
  CliResult invalid = run_cli("sweep " + bad + " --data-root coco_object=" + kCocoRoot + " --results " +
                              dir.file("runs2"));
  CHECK(invalid.exit_code == 1);
  CHECK(invalid.output.find("temperature") != std::string::npos);
  CHECK(json_files(dir.file("runs2")).empty());
  CliResult no_root = run_cli("sweep " + path + " --results " + dir.file("runs3"));
  CHECK(no_root.exit_code == 1);
  CHECK(no_root.output.find("--data-root coco_object=DIR") != std::string::npos);
}

TEST_CASE("the shipped sweep files validate against the shipped pipelines") {
  for (const char* f : {"naclip_sigma.toml", "attention_ablation.toml", "templates.toml", "pamr_on_off.toml",
                        "person_vanilla.toml", "person_maskclip.toml", "person_sclip.toml", "person_clearclip.toml",
                        "person_naclip.toml", "person_cliptrase.toml", "person_naclip_pamr.toml"}) {
    ovseg::SweepSpec spec = ovseg::load_sweep(kSourceDir + "/pipelines/sweeps/" + f);
    for (const auto& p : ovseg::sweep_points(spec))
      CHECK_NOTHROW(ovseg::build_graph(ovseg::load_pipeline_spec(spec.pipeline, p.overrides), catalog()));
  }
}
