// The object-level people world (OUT/world of `ovseg world --people`): world
// v2's classes plus "person", captions naming people and the scene, written
// in the folder layout that `--dataset world` and `ovseg train-clip` read.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "ovseg/harness/dataset.hpp"
#include "ovseg/models/model_zoo.hpp"
#include "ovseg/models/random_clip.hpp"
#include "ovseg/train/clip_contrastive.hpp"
#include "ovseg/train/trainer.hpp"
#include "ovseg/world/people.hpp"
#include "ovseg/world/world.hpp"

namespace fs = std::filesystem;
using namespace ovseg;
using namespace ovseg::world;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

bool same(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0;
}

const std::vector<std::string> kPersonWords = {"person", "people", "persons", "human", "humans", "pedestrian", "child",
                                               "kid",    "man",    "woman",   "boy",   "girl",   "lady",       "guy"};

bool names_a_person(const std::string& caption) {
  for (const auto& w : kPersonWords)
    for (size_t at = caption.find(w); at != std::string::npos; at = caption.find(w, at + 1)) {
      const bool start = at == 0 || !std::isalpha(static_cast<unsigned char>(caption[at - 1]));
      const size_t end = at + w.size();
      if (start && (end == caption.size() || !std::isalpha(static_cast<unsigned char>(caption[end])))) return true;
    }
  return false;
}

// A fresh temporary folder, removed at the end.
struct TempRoot {
  fs::path path;
  explicit TempRoot(const std::string& name) : path(fs::temp_directory_path() / name) { fs::remove_all(path); }
  ~TempRoot() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("object-level labels: person is exactly the figures' pixels, the rest is the background scene") {
  int person_pixels = 0;
  for (uint64_t seed = 0; seed < 6; ++seed) {
    const PeopleScene sc = render_people_scene(seed, 64, 64);
    const cv::Mat world = people_world_labels(sc), lip = people_lip_labels(sc);
    for (int y = 0; y < world.rows; ++y)
      for (int x = 0; x < world.cols; ++x) {
        const int w = world.at<uchar>(y, x);
        REQUIRE(w <= kPeopleWorldPersonClass);
        CHECK((w == kPeopleWorldPersonClass) == (lip.at<uchar>(y, x) != 0));
        if (w != kPeopleWorldPersonClass) CHECK(w == sc.background_label.at<uchar>(y, x));
        person_pixels += w == kPeopleWorldPersonClass;
      }
    // Figures are instances of their own; no background object shows under one.
    const cv::Mat inst = people_world_instances(sc), parts = people_world_parts(sc);
    CHECK(cv::countNonZero((inst == 0) & (sc.person > 0)) == 0);
    CHECK(cv::countNonZero((parts > 0) & (sc.person > 0)) == 0);
    double max_id = 0;
    cv::minMaxLoc(sc.person, nullptr, &max_id);
    double max_inst = 0;
    cv::minMaxLoc(inst, nullptr, &max_inst);
    CHECK(max_inst >= max_id);
  }
  CHECK(person_pixels > 0);
  const std::string names = people_world_class_names_text();
  CHECK(names == world_class_names_text(2) + "person\n");
  // draw_people has no background scene: a clear error, not a crash.
  const PeopleScene bare = draw_people(cv::Mat(64, 64, CV_8UC3, cv::Scalar::all(90)), {}, 1);
  CHECK_THROWS_WITH_AS(people_world_labels(bare), doctest::Contains("render_people_scene"), std::invalid_argument);
}

TEST_CASE("object-level captions name the people and the scene, with varied person words") {
  std::set<std::string> words;
  int with_background_noun = 0;
  for (uint64_t seed = 0; seed < 60; ++seed) {
    const PeopleScene sc = render_people_scene(seed, 64, 64);
    CHECK(sc.world_caption == render_people_scene(seed, 64, 64).world_caption);  // deterministic
    CHECK(names_a_person(sc.world_caption));
    // Half the captions keep the background's caption (minus its full
    // stop), so the stuff and objects stay named; the others name only the
    // people.
    std::string bg = sc.background_caption;
    if (!bg.empty() && bg.back() == '.') bg.pop_back();
    with_background_noun += sc.world_caption.find(bg) != std::string::npos;
    for (const auto& w : kPersonWords)
      if (sc.world_caption.find(" " + w) != std::string::npos || sc.world_caption.rfind(w, 0) == 0) words.insert(w);
  }
  CHECK(with_background_noun > 15);
  CHECK(with_background_noun < 45);
  CHECK(words.count("person") == 1);
  CHECK(words.size() >= 8);  // synonyms occur, so a prompt set of them means something

  // The documented mapping.
  PersonSpec p;
  p.dress = true;
  CHECK(person_word(p, false, 0.1) == "person");
  CHECK(person_word(p, true, 0.5) == "pedestrian");
  CHECK(person_word(p, false, 0.5) == "person");
  CHECK(person_word(p, false, 0.7) == "woman");
  p.dress = false;
  p.lower = Lower::Pants;
  p.long_hair = false;
  CHECK(person_word(p, false, 0.7) == "man");
  CHECK(person_word(p, false, 0.99) == "guy");
}

TEST_CASE("write_people_world_split: the folder adapter and train-clip read it; person = the LIP figures") {
  TempRoot tmp("ovseg_people_object_world_test");
  const fs::path people = tmp.path / "people", root = people / "world";
  write_people_split(people.string(), "train", 4, 3, 64, 64);
  write_people_world_split(root.string(), "train", 4, 2, 3, 64, 64);
  write_people_world_split(root.string(), "val", 2, 2, 3, 64, 64);

  CHECK(read_text(root / "class_names.txt") == people_world_class_names_text());
  CHECK(read_text(root / "train/train.txt") ==
        "train_00000\ntrain_00001\ntrain_00002\ntrain_00003\ntrain_00004\ntrain_00005\n");
  CHECK(read_text(root / "train/sources.tsv") ==
        "train_00000\ttrain_00000\ntrain_00001\tplain 0\ntrain_00002\ttrain_00001\ntrain_00003\tplain 1\n"
        "train_00004\ttrain_00002\ntrain_00005\ttrain_00003\n");
  // World id train_00004 is the LIP layout's scene train_00002: the same
  // picture (PNG here, JPEG there).
  const PeopleScene sc2 = render_people_scene(scene_seed(3, "people/train", 2), 64, 64);
  CHECK(same(cv::imread((root / "train/images/train_00004.png").string()), sc2.image));
  CHECK(same(cv::imread((root / "train/labels/train_00004.png").string(), cv::IMREAD_UNCHANGED),
             people_world_labels(sc2)));
  const cv::Mat lip = cv::imread(
      (people / "lip/TrainVal_parsing_annotations/train_segmentations/train_00002.png").string(), cv::IMREAD_UNCHANGED);
  CHECK(same(lip > 0, people_world_labels(sc2) == kPeopleWorldPersonClass));

  // Deterministic: a second write gives the same files.
  const std::string labels = read_text(root / "train/labels/train_00003.png");
  const std::string captions = read_text(root / "train/captions.tsv");
  write_people_world_split(root.string(), "train", 4, 2, 3, 64, 64);
  CHECK(read_text(root / "train/labels/train_00003.png") == labels);
  CHECK(read_text(root / "train/captions.tsv") == captions);

  const auto ds = harness::make_dataset("folder", root.string(), "val");
  REQUIRE(ds->size() == 4);
  REQUIRE(ds->num_classes() == kPeopleWorldPersonClass + 1);
  CHECK(ds->display_class_names().back() == "person");
  const harness::Sample s = ds->sample(0);  // a people scene
  CHECK(cv::countNonZero(s.label == kPeopleWorldPersonClass) > 0);
  CHECK(cv::countNonZero(ds->sample(1).label == kPeopleWorldPersonClass) == 0);  // a plain one

  // train-clip's loader and a few contrastive steps at the world geometry.
  const train::ImageCaptionSet data = train::load_image_caption_folder(root.string(), "train");
  REQUIRE(data.ids.size() == 6);
  CHECK(names_a_person(data.captions[0]));
  CHECK_FALSE(names_a_person(data.captions[1]));
  auto model = models::ClipModel::from_state_dict(
      models::make_random_clip_state_dict(models::clip_geometry_preset("world"), 2), "random");
  const models::ClipTokenizer tokenizer(models::resolve_bpe_vocab());
  train::ClipContrastiveOptions co;
  co.batch = 4;
  train::ClipContrastiveTask task(model, data, tokenizer, co);
  train::TrainOptions o;
  o.steps = 3;
  o.lr = 1e-3;
  const train::TrainResult r = train::train(task, o);
  CHECK(std::isfinite(r.recent_loss()));
}
