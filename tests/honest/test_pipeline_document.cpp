// Pipeline files that build on others: `base = "other.toml"` (merged key by
// key), `unset = [...]` and `--unset`, `[datasets.NAME]` settings applied
// only for that data set, and the errors each of them gives.
#include <doctest/doctest.h>

#include "eval_test_util.hpp"
#include "ovseg/host/pipeline_spec.hpp"
#include "ovseg/sdk/diagnostics.hpp"

using namespace eval_test;
using namespace ovseg;

namespace {

const char* kBase = R"([pipeline]
name = "base"

[protocol]
short_side = 336
window = 224

[nodes.enc]
plugin = "pixel_features"
inputs = { image = "input.image" }
patch_size = 8

[nodes.refine]
plugin = "similarity_smoothing"
inputs = { tokens = "enc.tokens" }
temperature = 0.05
iterations = 1

[datasets.voc21.protocol]
prob_thd = 0.1

[datasets.ade.protocol]
short_side = 448
)";

const SpecValue* param(const PipelineSpec& s, const std::string& node, const std::string& key) {
  for (const auto& n : s.nodes)
    if (n.id == node) {
      const auto it = n.params.find(key);
      return it == n.params.end() ? nullptr : &it->second;
    }
  return nullptr;
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("base: the child's keys merge into the base's tables; unset deletes inherited keys first") {
  TempDir d;
  write_file(d.file("base.toml"), kBase);
  write_file(d.file("child.toml"),
             "base = \"base.toml\"\nunset = [\"nodes.refine.iterations\"]\n"
             "[pipeline]\nname = \"child\"\n[nodes.refine]\ntemperature = 0.5\n"
             "[nodes.extra]\nplugin = \"pixel_features\"\ninputs = { image = \"input.image\" }\n");
  const PipelineSpec s = load_pipeline_spec(d.file("child.toml"));
  CHECK(s.name == "child");
  REQUIRE(s.nodes.size() == 3);
  // Base nodes first, then the child's own.
  CHECK(s.nodes[0].id == "enc");
  CHECK(s.nodes[2].id == "extra");
  CHECK(std::get<double>(param(s, "refine", "temperature")->value) == 0.5);
  CHECK(param(s, "refine", "iterations") == nullptr);
  CHECK(param(s, "enc", "patch_size") != nullptr);
  // A value from the base names the base file in errors.
  CHECK(param(s, "enc", "patch_size")->where.file == d.file("base.toml"));
  CHECK(s.files == std::vector<std::string>{d.file("child.toml"), d.file("base.toml")});
  CHECK(s.resolved_toml.find("datasets") == std::string::npos);
  CHECK(s.dataset_tables == std::vector<std::string>{"ade20k", "voc21"});  // toml++ orders keys
}

TEST_CASE("[datasets.NAME] applies only when loaded for that data set (names and aliases)") {
  TempDir d;
  write_file(d.file("p.toml"), kBase);
  const PipelineSpec none = load_pipeline_spec(d.file("p.toml"));
  const PipelineSpec voc = load_pipeline_spec(d.file("p.toml"), {}, "voc");  // alias of voc21
  const PipelineSpec ade = load_pipeline_spec(d.file("p.toml"), {}, "ade20k");
  const PipelineSpec city = load_pipeline_spec(d.file("p.toml"), {}, "cityscapes");
  CHECK(none.protocol.count("prob_thd") == 0);
  CHECK(voc.dataset == "voc21");
  CHECK(std::get<double>(voc.protocol.at("prob_thd").value) == 0.1);
  CHECK(std::get<int64_t>(ade.protocol.at("short_side").value) == 448);
  CHECK(std::get<int64_t>(city.protocol.at("short_side").value) == 336);
  // One pipeline, one family (table row); each data set its own resolved run.
  CHECK(voc.family_toml == ade.family_toml);
  CHECK(voc.resolved_toml != ade.resolved_toml);
  CHECK(city.resolved_toml == none.resolved_toml);
  // --set wins over the data set's value; --unset deletes it.
  const PipelineSpec set = load_pipeline_spec(d.file("p.toml"), {parse_override("protocol.prob_thd=0.3")}, "voc21");
  CHECK(std::get<double>(set.protocol.at("prob_thd").value) == 0.3);
  const PipelineSpec unset = load_pipeline_spec(d.file("p.toml"), {parse_unset("protocol.prob_thd")}, "voc21");
  CHECK(unset.protocol.count("prob_thd") == 0);
  CHECK(set.family_edits == std::vector<std::string>{"--set protocol.prob_thd=0.3"});  // part of the row
}

TEST_CASE("--unset replaces a node's plugin cleanly; a missing key is an error naming it") {
  TempDir d;
  write_file(d.file("p.toml"), kBase);
  // Without --unset the old plugin's parameters would stay behind.
  const PipelineSpec s = load_pipeline_spec(d.file("p.toml"),
                                            {parse_unset("nodes.refine"),
                                             parse_override("nodes.refine.plugin=similarity_smoothing"),
                                             parse_override("nodes.refine.inputs={ tokens = \"enc.tokens\" }")});
  CHECK(param(s, "refine", "temperature") == nullptr);
  const std::string e = error_of(
      [&] { load_pipeline_spec(d.file("p.toml"), {parse_unset("nodes.refine.temprature")}); });
  CHECK(e.find("temprature") != std::string::npos);
  CHECK(e.find("temperature") != std::string::npos);  // did you mean
  CHECK(error_of([] { parse_unset("nodes.a.b=1"); }).find("not key=value") != std::string::npos);
}

TEST_CASE("base and datasets errors name the file and what is wrong") {
  TempDir d;
  write_file(d.file("a.toml"), "base = \"b.toml\"\n[nodes.x]\nplugin = \"argmax\"\n");
  write_file(d.file("b.toml"), "base = \"a.toml\"\n");
  CHECK(error_of([&] { load_pipeline_spec(d.file("a.toml")); }).find("cycle") != std::string::npos);
  write_file(d.file("c.toml"), "base = \"missing.toml\"\n");
  const std::string missing = error_of([&] { load_pipeline_spec(d.file("c.toml")); });
  CHECK(missing.find("missing.toml") != std::string::npos);
  CHECK(missing.find(d.file("c.toml")) != std::string::npos);
  write_file(d.file("e.toml"), "base = \"../elsewhere/x.toml\"\n");
  CHECK(error_of([&] { load_pipeline_spec(d.file("e.toml")); }).find("not in this file's folder") != std::string::npos);
  write_file(d.file("f.toml"), std::string(kBase) + "[datasets.vocc21.protocol]\nprob_thd = 0.2\n");
  const std::string unknown = error_of([&] { load_pipeline_spec(d.file("f.toml")); });
  CHECK(unknown.find("vocc21") != std::string::npos);
  CHECK(unknown.find("f.toml") != std::string::npos);
  write_file(d.file("g.toml"), std::string(kBase) + "[datasets.voc.protocol]\nprob_thd = 0.2\n");
  CHECK(error_of([&] { load_pipeline_spec(d.file("g.toml")); }).find("repeats") != std::string::npos);
  write_file(d.file("h.toml"), std::string(kBase) + "[datasets.context59]\nprotcol = 1\n");
  CHECK(error_of([&] { load_pipeline_spec(d.file("h.toml")); }).find("protcol") != std::string::npos);
}

TEST_CASE("ovseg check --print shows the resolved document for a data set") {
  const auto r = run_cli("check '" + kSourceDir + "/pipelines/sclip.toml' --dataset voc21 --print --plugin-dir '" +
                         std::string(OVSEG_TEST_PLUGIN_DIR) + "'");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("training_free_base.toml") != std::string::npos);
  CHECK(r.output.find("logit_scale = 65.0") != std::string::npos);
  CHECK(r.output.find("area_thd = 0.1") != std::string::npos);
  CHECK(r.output.find("[datasets") == std::string::npos);
}
