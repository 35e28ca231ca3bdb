// The people world: articulated human figures (head, hair, face, hat,
// sunglasses, upper clothes / coat / dress, skirt or pants, arms, hands,
// legs, shoes) in several poses, sizes, clothing colours and patterns,
// facing the camera or turned away, several per scene with occlusion, on
// world v2 scenes as backgrounds. Written in the on-disk layouts of the
// human-parsing data sets LIP (20 classes), CIHP (20 classes, the same label
// set, plus per-person ids) and PASCAL-Person-Part (7 classes), so the
// harness's `lip`, `cihp` and `pascal_person_part` adapters read it as they
// read the real data sets.
//
// Every pixel of a figure carries two native labels: what is seen there
// (Surface: skin, hair, a garment, a shoe ...) and which body segment it lies
// on (Segment: head, torso, left upper arm ...). The three label sets are
// fixed functions of the pair (people_lip_label, people_ppp_label).
//
// Left and right are the figure's own sides, as in LIP and CIHP: a figure
// facing the camera has its left arm on the image's right; a figure turned
// away has it on the image's left.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core/mat.hpp>

namespace ovseg::world {

enum class Surface : uint8_t {
  None = 0,
  Hat,
  Hair,
  Sunglasses,
  Face,
  Skin,
  UpperClothes,
  Coat,
  Dress,
  Skirt,
  Pants,
  Glove,
  Shoe,
  Count
};

enum class Segment : uint8_t {
  None = 0,
  Head,
  Torso,
  LeftUpperArm,
  RightUpperArm,
  LeftLowerArm,
  RightLowerArm,
  LeftHand,
  RightHand,
  LeftUpperLeg,
  RightUpperLeg,
  LeftLowerLeg,
  RightLowerLeg,
  LeftFoot,
  RightFoot,
  Hem,  // a skirt's, dress's or coat's flare below the hips, outside both legs
  Count
};

enum class Facing { Front, Back };
enum class Lower { Pants, Shorts, Skirt };
enum class Sleeves { None, Short, Long };

// One figure. Angles are in degrees in the figure's own frame, mirrored to
// the image by `facing`: 0 = the limb hangs straight down, positive = it
// swings away from the body's midline (outward).
struct PersonSpec {
  double cx = 0, feet_y = 0, height = 0;  // pixels: midline x, sole y, head-to-sole height
  Facing facing = Facing::Front;
  double left_shoulder = 15, right_shoulder = 15;  // upper arm from vertical, outward
  double left_elbow = 0, right_elbow = 0;          // extra bend of the forearm, outward
  double left_hip = 6, right_hip = 6;              // thigh from vertical, outward
  double left_knee = 0, right_knee = 0;            // extra bend of the shin, outward
  Sleeves sleeves = Sleeves::Short;
  Lower lower = Lower::Pants;
  bool dress = false;  // upper clothes and skirt are one dress
  bool coat = false;   // a coat over the upper clothes, down past the hips
  bool hat = false, sunglasses = false, gloves = false, long_hair = false;
  int top_colour = 0, top_pattern = 0, top_pattern_colour = 10;  // world v2 palette / Pattern ids
  int bottom_colour = 5, bottom_pattern = 0, bottom_pattern_colour = 10;
  int coat_colour = 9, hat_colour = 0, shoe_colour = 10;
  int skin_tone = 0, hair_colour = 0;  // indices into small fixed tables (people_figure.cpp)
};

struct PeopleScene {
  cv::Mat image;    // CV_8UC3 BGR
  cv::Mat surface;  // CV_8UC1 Surface per pixel (None = background)
  cv::Mat segment;  // CV_8UC1 Segment per pixel
  cv::Mat person;   // CV_8UC1: 0 = background, k = the k-th figure in drawing order (later ones in front)
  std::vector<PersonSpec> people;  // in drawing order
  std::vector<int> visible;        // per people[i]: its visible pixels (0 = hidden entirely)
  std::string caption;
  // The world v2 scene the figures stand in (render_people_scene only; empty
  // after draw_people): its class, object-instance and part maps and its
  // caption, as if no figure were there. The object-level people world
  // (people_world_labels) reads them.
  cv::Mat background_label;      // CV_8UC1 world v2 class ids
  cv::Mat background_instances;  // CV_16UC1 (Scene::instances)
  cv::Mat background_parts;      // CV_16UC1 (Scene::parts)
  std::string background_caption;
  // The object-level caption: the figures named with varied person words
  // (person, man, woman, pedestrian ...; people_world_caption), half of the
  // time with the background's own caption.
  std::string world_caption;
};

// Draws `people` in order (later ones occlude earlier ones) over `background`
// (CV_8UC3; copied). Exposed so tests can pose a figure exactly.
PeopleScene draw_people(const cv::Mat& background, const std::vector<PersonSpec>& people, uint64_t paint_seed);

// A random scene: a world v2 scene as background, 1-4 figures sorted far to
// near (smaller and higher first), poses, clothes and colours drawn from the
// seed. Deterministic for (seed, width, height).
PeopleScene render_people_scene(uint64_t scene_seed, int width, int height);

// The label sets. Class names are the harness's builtin lists (cls_lip.txt,
// cls_cihp.txt: 20 classes; cls_pascal_person_part.txt: 7).
int people_lip_label(Surface s, Segment g);           // LIP and CIHP ids 0..19
int people_ppp_label(Surface s, Segment g);           // PASCAL-Person-Part ids 0..6
cv::Mat people_lip_labels(const PeopleScene& scene);  // CV_8UC1
cv::Mat people_ppp_labels(const PeopleScene& scene);  // CV_8UC1

// Open-vocabulary prompt names: per LIP/CIHP class and per PASCAL-Person-Part
// class, comma-separated synonyms (the first is the builtin class name).
const std::vector<std::string>& people_lip_part_names();
const std::vector<std::string>& people_ppp_part_names();

// ---- The object-level people world (seed 003's person class) --------------
// World v2's 30 classes plus "person" (label 30 = kPeopleWorldPersonClass):
// every figure pixel, whatever part, is person; every other pixel keeps the
// background scene's world v2 class. Written by write_people_world_split in
// the "folder" layout (`--dataset world`) so open-vocabulary pipelines and
// `ovseg train-clip` read it.
inline constexpr int kPeopleWorldPersonClass = 30;

// class_names.txt of the object-level world: world v2's lines, then "person".
std::string people_world_class_names_text();
cv::Mat people_world_labels(const PeopleScene& scene);     // CV_8UC1; needs background_label
cv::Mat people_world_instances(const PeopleScene& scene);  // CV_16UC1: background objects, then figures
cv::Mat people_world_parts(const PeopleScene& scene);      // CV_16UC1: background parts a figure leaves visible

// The word a caption uses for one figure (people_world_caption.cpp has the
// documented mapping): `on_road` = it stands on road pixels, `u` a uniform draw.
std::string person_word(const PersonSpec& p, bool on_road, double u);
// The object-level caption of a scene: its visible figures (PeopleScene::
// visible) named with person_word, half of them with a garment, and in half
// of the captions the background's caption too; a function of `seed`.
// Needs the background fields.
std::string people_world_caption(const PeopleScene& scene, uint64_t seed);

// Writes ROOT/class_names.txt, ROOT/unseen_classes.txt (world v2's split;
// person is not in it) and ROOT/SPLIT/{images,labels,instances,parts}/ID.png,
// captions.tsv, SPLIT.txt, world.json: `count` people scenes (the same scenes
// as write_people_split's) interleaved with `plain` world v2 scenes without
// people, so a contrastive model sees captions without a person word too.
// IDs SPLIT_NNNNN count both kinds in one sequence; ROOT/SPLIT/sources.tsv
// says what each is ("ID<TAB>train_00007": that LIP-layout scene; "ID<TAB>plain 3").
void write_people_world_split(const std::string& root, const std::string& split, int count, int plain,
                              uint64_t world_seed, int width, int height);

// Writes `count` scenes of SPLIT ("train" or "val") under ROOT:
//   ROOT/lip/TrainVal_images/SPLIT_images/ID.jpg, TrainVal_images/SPLIT_id.txt,
//   ROOT/lip/TrainVal_parsing_annotations/SPLIT_segmentations/ID.png
//   ROOT/cihp/instance-level_human_parsing/{Training|Validation}/Images/ID.jpg,
//       Category_ids/ID.png, Human_ids/ID.png (person k = k), SPLIT_id.txt
//   ROOT/pascal_person_part/JPEGImages/ID.jpg, SegmentationPart/ID.png, list/SPLIT_id.txt
//   ROOT/SPLIT_captions.tsv, ROOT/part_names_{lip,pascal_person_part}.txt, ROOT/people_SPLIT.json
// IDs are SPLIT_NNNNN (PASCAL-Person-Part keeps both splits in one folder).
void write_people_split(const std::string& root, const std::string& split, int count, uint64_t world_seed, int width,
                        int height);

}  // namespace ovseg::world
