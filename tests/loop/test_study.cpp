// `ovseg eval` with several pipelines and @LIST files, a failing pipeline
// among them, experiment folders (--work-dir) over the shared store, and
// `ovseg table --results` with record files and globs.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "loop_test_util.hpp"
#include "ovseg/host/results_store.hpp"

using namespace loop_test;

namespace {

// The colour-prototype pipeline (no weights, fast) under another name and
// smoothing temperature; without_world_map drops its [vocabulary] map for
// the world, so it predicts classes the world does not have and fails on
// the first image.
std::string colour_variant(const TempDir& dir, const std::string& name, bool without_world_map = false) {
  std::string text = read_file(kColourPipeline);
  text.replace(text.find("name = \"colour-prototypes\""), 26, "name = \"" + name + "\"");
  text.replace(text.find("temperature = 0.05"), 18, "temperature = 0.2");
  if (without_world_map) text.erase(text.find("[datasets.folder.vocabulary]"));
  const std::string path = dir.file(name + ".toml");
  write_file(path, text);
  return path;
}

std::string eval_args(const std::string& pipelines, const std::string& results, const std::string& extra = "") {
  return "eval " + pipelines + " --dataset world --data-root " + quoted(tiny_world()) + " --results " +
         quoted(results) + " --quiet " + extra;
}

}  // namespace

TEST_CASE("ovseg eval: several pipelines and @LIST in one command; one failing costs the others nothing") {
  TempDir tmp;
  colour_variant(tmp, "colour-b");
  colour_variant(tmp, "colour-bad", /*without_world_map=*/true);
  fs::create_directories(tmp.file("lists"));
  // Paths in a list are relative to the list file.
  write_file(tmp.file("lists/study.txt"), "# the variants\n../colour-b.toml\n\n../colour-bad.toml   # fails\n");
  const std::string study = tmp.file("study");
  const auto r = run_cli(eval_args(quoted(kColourPipeline) + " @" + tmp.file("lists/study.txt"), tmp.file("res"),
                                   "--work-dir " + quoted(study)));
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(contains(r.output, "[3/3]"));
  CHECK(contains(r.output, "colour-bad.toml: pipeline 'colour-bad' predicts other classes"));
  CHECK(contains(r.output, "1 of 3 pipelines failed"));
  // The two good runs are stored and listed in the study, with its tables.
  CHECK(record_count(tmp.file("res")) == 2);
  CHECK(record_count(study + "/records") == 2);
  const std::string md = read_file(study + "/table.md");
  CHECK(contains(md, "| colour-prototypes |"));
  CHECK(contains(md, "| colour-b |"));
  CHECK(contains(read_file(study + "/table.tex"), "\\begin{table}"));
  CHECK(contains(read_file(study + "/table.html"), "<html"));
  CHECK(contains(read_file(study + "/commands.txt"), "ovseg eval "));

  // A second study with an overlapping run: the store serves it, the new
  // folder lists it, and each folder's table shows only its own runs.
  const std::string second = tmp.file("second");
  const auto again = run_cli(eval_args(quoted(kColourPipeline), tmp.file("res"), "--work-dir " + quoted(second)));
  INFO(again.output);
  REQUIRE(again.exit_code == 0);
  CHECK(contains(again.output, "already stored"));
  CHECK(record_count(tmp.file("res")) == 2);
  CHECK(record_count(second + "/records") == 1);
  const auto table = run_cli("table --work-dir " + quoted(second));
  REQUIRE_MESSAGE(table.exit_code == 0, table.output);
  CHECK(contains(table.output, "| colour-prototypes |"));
  CHECK_FALSE(contains(table.output, "colour-b"));
  const auto missing = run_cli("table --work-dir " + quoted(tmp.file("nowhere")));
  CHECK(missing.exit_code == 1);
  CHECK(contains(missing.output, "no experiment folder"));

  // A single failing pipeline still fails as before (its own error, exit 1).
  const auto alone = run_cli(eval_args(quoted(tmp.file("colour-bad.toml")), tmp.file("res")));
  CHECK(alone.exit_code == 1);
  CHECK(contains(alone.output, "predicts other classes"));
  CHECK_FALSE(contains(alone.output, "pipelines failed"));
}

TEST_CASE("ovseg table --results: repeatable, record files and globs; a glob matching nothing is named") {
  TempDir tmp;
  colour_variant(tmp, "colour-b");
  REQUIRE(run_cli(eval_args(quoted(kColourPipeline), tmp.file("a"))).exit_code == 0);
  REQUIRE(run_cli(eval_args(quoted(tmp.file("colour-b.toml")), tmp.file("b"))).exit_code == 0);
  // Both folders by one glob, and the same record again by file name: counted once.
  const auto both = run_cli("table --results " + quoted(tmp.file("?")) + " --results " +
                            quoted(tmp.file("b") + "/colour-b__*.json"));
  INFO(both.output);
  REQUIRE(both.exit_code == 0);
  CHECK(contains(both.output, "| colour-prototypes |"));
  CHECK(contains(both.output, "| colour-b |"));
  const auto one = run_cli("table --results " + quoted(tmp.file("a") + "/*.json"));
  REQUIRE(one.exit_code == 0);
  CHECK_FALSE(contains(one.output, "colour-b"));
  const auto none = run_cli("table --results " + quoted(tmp.file("a") + "/nothing*.json"));
  CHECK(none.exit_code == 1);
  CHECK(contains(none.output, "nothing*.json: matches no folder or record file"));
}

TEST_CASE("ovseg eval: a missing list file or an empty list is a usage error") {
  TempDir tmp;
  auto r = run_cli(eval_args("@" + tmp.file("none.txt"), tmp.file("res")));
  CHECK(r.exit_code == 2);
  CHECK(contains(r.output, "cannot read the pipeline list"));
  write_file(tmp.file("list.txt"), "missing.toml\n");
  r = run_cli(eval_args("@" + tmp.file("list.txt"), tmp.file("res")));
  CHECK(r.exit_code == 2);
  CHECK(contains(r.output, "list.txt:1: pipeline"));
}
