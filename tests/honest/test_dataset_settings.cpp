// The shipped method pipelines resolve, per data set, to the authors'
// public settings (the values and their config files are commented in
// pipelines/*.toml; README "Pipeline TOML" has the table). Pinned here so a
// change to a skeleton cannot move a method's setting unnoticed.
#include <doctest/doctest.h>

#include <map>

#include "ovseg/host/pipeline_spec.hpp"
#include "ovseg/host/protocol.hpp"

using namespace ovseg;

namespace {

struct Setting {
  std::string mode;
  int short_side, window, stride;
  double prob_thd, area_thd, logit_scale;
};

Setting resolve(const std::string& pipeline, const std::string& dataset) {
  const PipelineSpec s = load_pipeline_spec(OVSEG_SOURCE_DIR "/pipelines/" + pipeline + ".toml", {}, dataset);
  const Protocol p = parse_protocol(s);
  double scale = -1;
  for (const auto& n : s.nodes)
    if (n.id == "logits") scale = std::get<double>(n.params.at("logit_scale").value);
  return {p.mode, p.short_side, p.window, p.stride, p.prob_thd, p.area_thd, scale};
}

const std::vector<std::string> kBenchmarks = {"voc21",       "voc20",         "context60",         "context59",
                                              "coco_object", "coco_stuff171", "cityscapes",        "ade20k",
                                              "lip",         "cihp",          "pascal_person_part"};

// SCLIP's and NACLIP's shared settings (training_free_base.toml).
Setting skeleton(const std::string& ds) {
  Setting s{"slide", 336, 224, 112, 0.0, 0.0, 40.0};
  if (ds == "voc21" || ds == "context60" || ds == "coco_object") s.prob_thd = 0.1;
  if (ds == "coco_stuff171") s.short_side = 448;
  if (ds == "cityscapes") s.short_side = 560;
  return s;
}

void check_equal(const Setting& got, const Setting& want) {
  CHECK(got.mode == want.mode);
  CHECK(got.short_side == want.short_side);
  if (want.mode == "slide") {
    CHECK(got.window == want.window);
    CHECK(got.stride == want.stride);
  }
  CHECK(got.prob_thd == want.prob_thd);
  CHECK(got.area_thd == want.area_thd);
  CHECK(got.logit_scale == want.logit_scale);
}

}  // namespace

TEST_CASE("each method pipeline resolves to its authors' per-dataset settings") {
  for (const auto& ds : kBenchmarks) {
    CAPTURE(ds);
    for (const char* p : {"vanilla", "maskclip", "clip_baseline"}) {
      CAPTURE(p);
      check_equal(resolve(p, ds), skeleton(ds));
    }
    Setting sclip = skeleton(ds);  // SCLIP configs/cfg_*.py
    if (ds == "voc21") sclip.logit_scale = 65, sclip.area_thd = 0.1;
    if (ds == "context60" || ds == "coco_object") sclip.logit_scale = 50;
    check_equal(resolve("sclip", ds), sclip);

    Setting naclip = skeleton(ds);  // NACLIP configs/cfg_*.py
    if (ds == "voc21" || ds == "voc20") naclip.mode = "whole";
    if (ds == "coco_stuff171") naclip.short_side = 336;
    check_equal(resolve("naclip", ds), naclip);
    check_equal(resolve("naclip_pamr", ds), naclip);

    Setting clear{"slide", 448, 448, 224, 0.0, 0.0, 50.0};  // ClearCLIP configs/cfg_*.py
    if (ds == "voc21") clear.prob_thd = 0.5;
    if (ds == "context60") clear.prob_thd = 0.15;
    if (ds == "coco_object") clear.prob_thd = 0.4;
    if (ds == "cityscapes") clear.window = 224;
    check_equal(resolve("clearclip", ds), clear);

    check_equal(resolve("cliptrase", ds), Setting{"whole", 224, 224, 112, 0.0, 0.0, 100.0});
  }
}

TEST_CASE("no method pipeline names its classes: the data set's vocabulary is used") {
  for (const char* p :
       {"vanilla", "maskclip", "clip_baseline", "sclip", "naclip", "naclip_pamr", "clearclip", "cliptrase"}) {
    for (const auto& ds : kBenchmarks) {
      const PipelineSpec s = load_pipeline_spec(OVSEG_SOURCE_DIR "/pipelines/" + std::string(p) + ".toml", {}, ds);
      for (const auto& n : s.nodes) {
        CAPTURE(p);
        CAPTURE(ds);
        CHECK(n.params.count("names_file") == 0);
        CHECK(n.params.count("class_names") == 0);
      }
    }
  }
}

TEST_CASE("CLIPtrase on VOC20 gets its CLS-logit weighting from [datasets.voc20]") {
  const auto has_node = [](const PipelineSpec& s, const std::string& id) {
    for (const auto& n : s.nodes)
      if (n.id == id) return true;
    return false;
  };
  const PipelineSpec voc20 = load_pipeline_spec(OVSEG_SOURCE_DIR "/pipelines/cliptrase.toml", {}, "voc20");
  const PipelineSpec ade = load_pipeline_spec(OVSEG_SOURCE_DIR "/pipelines/cliptrase.toml", {}, "ade20k");
  CHECK(has_node(voc20, "weighted"));
  CHECK_FALSE(has_node(ade, "weighted"));
  // The world preset: the shipped world CLIP and the demo's protocol.
  const PipelineSpec world = load_pipeline_spec(OVSEG_SOURCE_DIR "/pipelines/naclip.toml", {}, "world");
  const Protocol p = parse_protocol(world);
  CHECK(p.short_side == 128);
  CHECK(p.window == 64);
  for (const auto& n : world.nodes)
    if (n.id == "clip")
      CHECK(std::get<std::string>(n.params.at("model").value).find("world-clip") != std::string::npos);
}
