// Sweeps in the researcher's loop: the data sets from the command line
// (--dataset, a bare --data-root), each point's label kept in its record and
// shown by `ovseg table`, every table format written, `unset`, and relative
// paths in `set` / [axes] resolved from the sweep file, not from the base
// pipeline's folder.
#include <doctest/doctest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "loop_test_util.hpp"
#include "ovseg/host/results_store.hpp"
#include "ovseg/host/sweep.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/models/random_clip.hpp"

using namespace loop_test;

namespace {

// A CLIP pipeline whose model file does not exist next to it: only the
// sweep's `set` (a path relative to the sweep file) names a real one.
std::string clip_pipeline() {
  return "[protocol]\nshort_side = 64\nwindow = 64\nstride = 64\n"
         "[nodes.clip]\nplugin = \"clip_image\"\ninputs = { image = \"input.image\" }\nmodel = "
         "\"no-such.safetensors\"\n"
         "[nodes.text]\nplugin = \"clip_text\"\nmodel = \"no-such.safetensors\"\ntemplates = \"single\"\ncache = "
         "false\n"
         "[nodes.logits]\nplugin = \"cosine_logits\"\ninputs = { features = \"clip.features\", text = "
         "\"text.embeddings\" }\n"
         "[nodes.upsample]\nplugin = \"resize_logits\"\ninputs = { logits = \"logits.logits\", image = \"input.image\" "
         "}\n"
         "mode = \"bilinear\"\n";
}

// tmp/pipes/tiny.toml, tmp/sweeps/clip.safetensors and tmp/sweeps/scale.toml.
std::string write_study(const TempDir& tmp) {
  fs::create_directories(tmp.file("pipes"));
  fs::create_directories(tmp.file("sweeps"));
  write_file(tmp.file("pipes/tiny.toml"), clip_pipeline());
  ovseg::models::save_safetensors(
      tmp.file("sweeps/clip.safetensors"),
      ovseg::models::make_random_clip_state_dict(ovseg::models::clip_geometry_preset("tiny"), 5));
  const std::string sweep = tmp.file("sweeps/scale.toml");
  write_file(sweep,
             "[sweep]\nname = \"scale\"\npipeline = \"../pipes/tiny.toml\"\n"
             "datasets = [\"coco_object\"]   # replaced by --dataset on the command line\n"
             "unset = [\"nodes.upsample.mode\"]\n"
             "set = ['nodes.clip.model=\"clip.safetensors\"', 'nodes.text.model=\"clip.safetensors\"']\n"
             "[axes]\n\"nodes.logits.logit_scale\" = [10.0, 50.0]\n");
  return sweep;
}

}  // namespace

TEST_CASE("sweep files: relative paths resolve from the sweep file; labels keep the values as written") {
  TempDir tmp;
  const ovseg::SweepSpec spec = ovseg::load_sweep(write_study(tmp));
  REQUIRE(spec.fixed.size() == 3);
  CHECK(spec.fixed[0].unset);  // unset first, then set
  const std::string model = fs::absolute(tmp.file("sweeps/clip.safetensors")).lexically_normal().string();
  CHECK(spec.fixed[1].value_text == "'" + model + "'");  // TOML text, as toml++ writes it
  const auto points = ovseg::sweep_points(spec);
  REQUIRE(points.size() == 2);
  CHECK(points[0].label == "logit_scale=10.0");
  CHECK(points[1].values == std::vector<std::string>{"50.0"});
  // A word that names no file next to the sweep stays a word; a path axis
  // is resolved but labelled as written.
  write_file(tmp.file("sweeps/words.toml"),
             "[sweep]\npipeline = \"../pipes/tiny.toml\"\ndatasets = [\"world\"]\n"
             "set = ['nodes.text.templates=single']\n"
             "[axes]\n\"nodes.clip.model\" = [\"clip.safetensors\", \"openai:ViT-B/16\"]\n");
  const ovseg::SweepSpec words = ovseg::load_sweep(tmp.file("sweeps/words.toml"));
  CHECK(words.fixed[0].value_text == "single");
  CHECK(words.axes[0].values[0] == "'" + model + "'");
  CHECK(words.axes[0].values[1] == "'openai:ViT-B/16'");
  CHECK(ovseg::sweep_points(words)[0].label == "model='clip.safetensors'");
}

TEST_CASE("ovseg sweep --dataset world --data-root DIR: labelled records, every format, the study folder") {
  TempDir tmp;
  const std::string sweep = write_study(tmp);
  const std::string results = tmp.file("res"), study = tmp.file("study");
  // Run from another folder: nothing may resolve from the working folder.
  const auto r = run_cli("sweep " + quoted(sweep) + " --dataset world --data-root " + quoted(tiny_world()) +
                         " --results " + quoted(results) + " --work-dir " + quoted(study) + " --quiet");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(contains(r.output, "| logit_scale |"));
  const auto records = ovseg::load_records(results);
  REQUIRE(records.size() == 2);
  std::set<std::string> labels;
  for (const auto& rec : records) {
    labels.insert(ovseg::sweep_label(rec));
    CHECK(rec["sweep_points"][0]["sweep"] == "scale");
    // The model the sweep file's relative path names, not one beside the pipeline.
    CHECK(rec["models"][0]["file"] == fs::absolute(tmp.file("sweeps/clip.safetensors")).lexically_normal().string());
    CHECK_FALSE(contains(rec["pipeline"]["resolved_toml"].get<std::string>(), "bilinear"));  // unset
  }
  CHECK(labels == std::set<std::string>{"logit_scale=10.0", "logit_scale=50.0"});
  for (const char* ext : {".md", ".tex", ".html"}) CHECK(fs::exists(study + "/scale" + ext));
  CHECK(contains(read_file(study + "/scale.tex"), "\\begin{table}"));
  CHECK(record_count(study + "/records") == 2);

  // ovseg table names the rows by the labels.
  const auto table = run_cli("table --results " + quoted(results));
  REQUIRE_MESSAGE(table.exit_code == 0, table.output);
  CHECK(contains(table.output, "| tiny [logit_scale=10.0] |"));
  CHECK(contains(table.output, "| tiny [logit_scale=50.0] |"));
  // The ablation again from the store, on the data set given on the command line.
  const auto ablation = run_cli("table --rows " + quoted(sweep) + " --datasets world --results " + quoted(results));
  REQUIRE_MESSAGE(ablation.exit_code == 0, ablation.output);
  CHECK(contains(ablation.output, "| 10.0 | "));
  CHECK_FALSE(contains(ablation.output, "| 10.0 | - |"));

  // Rerun: stored points, the records not rewritten, the label still there once.
  const auto again = run_cli("sweep " + quoted(sweep) + " --dataset world --data-root " + quoted(tiny_world()) +
                             " --results " + quoted(results) + " --quiet");
  REQUIRE(again.exit_code == 0);
  CHECK(contains(again.output, "stored earlier"));
  for (const auto& rec : ovseg::load_records(results)) CHECK(rec["sweep_points"].size() == 1);

  // A bare --data-root with two data sets is ambiguous.
  const auto two = run_cli("sweep " + quoted(sweep) + " --dataset world --dataset coco_object --data-root " +
                           quoted(tiny_world()) + " --results " + quoted(results) + " --dry-run");
  CHECK(two.exit_code == 2);
  CHECK(contains(two.output, "write --data-root NAME=DIR"));
}
