// Every method pipeline evaluates on every data-set adapter's tiny fixture
// with the data set's own vocabulary and that data set's settings, with no
// --set: `openai:ViT-B/16` is a tiny random CLIP written under the zoo's file
// name in a temporary OVSEG_MODEL_DIR (TorchScript, as OpenAI publishes it).
// One image per data set; the record's vocabulary must be the data set's.
#include <doctest/doctest.h>

#include <cstdlib>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "eval_test_util.hpp"
#include "ovseg/harness/dataset.hpp"
#include "ovseg/harness/label_io.hpp"
#include "ovseg/host/eval_run.hpp"
#include "ovseg/host/graph.hpp"
#include "ovseg/host/pipeline_spec.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/models/random_clip.hpp"
#include "ovseg/world/world.hpp"

using namespace eval_test;
using nlohmann::json;

namespace {

void image(const fs::path& p, int w, int h) {
  fs::create_directories(p.parent_path());
  cv::Mat img(h, w, CV_8UC3);
  cv::randu(img, 0, 255);
  REQUIRE(cv::imwrite(p.string(), img));
}

// A label map of a few of `values` in stripes (255 = void included).
void label(const fs::path& p, int w, int h, const std::vector<int>& values) {
  fs::create_directories(p.parent_path());
  cv::Mat m(h, w, CV_8UC1);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) m.at<uint8_t>(y, x) = static_cast<uint8_t>(values[(x / 4) % values.size()]);
  ovseg::harness::write_label_png(p.string(), m);
}

void list(const fs::path& p, const std::string& id) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << id << "\n";
}

// One image per adapter in its layout (dataset.hpp); returns name -> root.
std::map<std::string, std::string> write_fixtures(const fs::path& d) {
  const int w = 40, h = 30;
  std::map<std::string, std::string> roots;
  image(d / "voc/JPEGImages/a.jpg", w, h);
  label(d / "voc/SegmentationClass/a.png", w, h, {0, 15, 255, 7});
  list(d / "voc/val.txt", "a");
  roots["voc21"] = roots["voc20"] = (d / "voc").string();
  image(d / "ctx/JPEGImages/a.jpg", w, h);
  label(d / "ctx/SegmentationClassContext/a.png", w, h, {0, 1, 59, 30});
  list(d / "ctx/val.txt", "a");
  roots["context60"] = roots["context59"] = (d / "ctx").string();
  image(d / "stuff/images/val2017/a.jpg", w, h);
  label(d / "stuff/annotations/val2017/a_labelTrainIds.png", w, h, {0, 170, 255});
  roots["coco_stuff171"] = (d / "stuff").string();
  image(d / "ade/images/a.jpg", w, h);
  label(d / "ade/annotations/a.png", w, h, {0, 1, 150});
  roots["ade20k"] = (d / "ade").string();
  image(d / "city/leftImg8bit/val/x/x_000000_000001_leftImg8bit.png", w, h);
  label(d / "city/gtFine/val/x/x_000000_000001_gtFine_labelIds.png", w, h, {7, 26, 0});
  roots["cityscapes"] = (d / "city").string();
  for (const char* hp : {"lip", "cihp", "ppp"}) {
    image(d / hp / "images/a.jpg", w, h);
    label(d / hp / "labels/a.png", w, h, {0, 2, 6});
  }
  roots["lip"] = (d / "lip").string();
  roots["cihp"] = (d / "cihp").string();
  roots["pascal_person_part"] = (d / "ppp").string();
  roots["coco_object"] = kCocoRoot;  // the real 164-image sample, first image only
  ovseg::world::SceneOptions o;
  o.width = o.height = 64;
  ovseg::world::write_world_split((d / "world").string(), "val", 1, 3, o);
  roots["world"] = (d / "world").string();
  return roots;
}

struct Setup {
  TempDir dir;
  std::map<std::string, std::string> roots;
  Setup() {
    setenv("OVSEG_MODEL_DIR", dir.file("models").c_str(), 1);
    setenv("OVSEG_CACHE_DIR", dir.file("cache").c_str(), 1);
    setenv("OVSEG_CLIP_BPE", OVSEG_SHARED_DATA "/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz", 1);
    fs::create_directories(dir.file("models"));
    ovseg::models::save_torchscript_state_dict(
        dir.file("models") + "/ViT-B-16.pt",
        ovseg::models::make_random_clip_state_dict(ovseg::models::clip_geometry_preset("tiny"), 11));
    roots = write_fixtures(dir.path());
  }
};

}  // namespace

TEST_CASE("every method pipeline on every adapter: the data set's vocabulary and settings, no --set") {
  Setup s;
  const std::vector<std::string> pipelines = {"vanilla",   "maskclip", "clip_baseline", "sclip",
                                              "clearclip", "naclip",   "naclip_pamr",   "cliptrase"};
  int runs = 0;
  for (const auto& [dataset, root] : s.roots) {
    const auto ds = ovseg::harness::make_dataset(dataset, root);
    for (const auto& p : pipelines) {
      CAPTURE(dataset);
      CAPTURE(p);
      const ovseg::Graph g = ovseg::build_graph(ovseg::load_pipeline_spec(kSourceDir + "/pipelines/" + p + ".toml", {},
                                                                          dataset),
                                                catalog());
      ovseg::EvalOptions o;
      o.dataset = dataset;
      o.data_root = root;
      o.limit = 1;
      o.progress = false;
      o.results_dir = s.dir.file("runs");
      const json r = ovseg::run_eval(g, o).record;
      CHECK(r.at("vocabulary").at("names") == json(ds->display_class_names()));
      CHECK(r.at("vocabulary").at("queries") == json(ds->class_names()));
      CHECK(r.at("pipeline").at("class_names").size() == static_cast<size_t>(ds->num_classes()));
      CHECK(r.at("pipeline").at("dataset_settings").at("applied") == ds->name());
      CHECK(r.at("selection").at("num_images") == 1);
      ++runs;
    }
  }
  CHECK(runs == 12 * 8);
}
