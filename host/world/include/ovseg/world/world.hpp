// The procedural scene world behind the embedded default model: textured
// "stuff" backgrounds with "thing" objects on them, pixel ground truth
// (classes, object instances, part instances) and an open-vocabulary caption
// per scene. Every scene is a pure function of (world version, world seed,
// split, index): scenes are generated independently, so any one can be
// re-created, and two machines write byte-identical data sets. Only OpenCV
// drawing is used.
//
// World versions (SceneOptions::version):
//   1  The first world (8 classes): grass, water, sand; circle, square,
//      triangle, star, cross, each shape with typical colours and a surface
//      pattern. Kept byte for byte (tests/embedded/test_world_v1.cpp) so the
//      first embedded CLIP's data can be re-made.
//   2  The default (30 classes): 6 stuff classes (grass, water, sand, snow,
//      road, dirt), 20 objects, 4 of them with parts that are classes of
//      their own (house: roof, door; tree: trunk; car: wheel). Each object
//      class has a characteristic two-tone look (a typical colour, a surface
//      pattern drawn in a second colour) and a shape; captions name objects
//      with synonyms, counts, and now and then their colour, pattern, size
//      and parts. world_classes(2) lists them; world_v2_design in
//      host/world/src/v2/catalog_v2.cpp says why each looks as it does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core/mat.hpp>

namespace ovseg::world {

// The default world version (what `ovseg world` and `ovseg demo` write).
inline constexpr int kLatestWorldVersion = 2;
// Bumped whenever a change alters generated pixels, masks or captions of
// any world version (world v1 never changes; see above).
inline constexpr int kWorldGeneratorVersion = 7;

struct WorldClass {
  std::string name;                   // display name, the first synonym
  std::vector<std::string> synonyms;  // words captions use for it
  bool thing = false;                 // objects and parts are things; backgrounds are stuff
  std::string part_of;                // a part's whole (its display name); empty otherwise
};

// The label ids are indices into this list (label 255 is never used: every
// pixel belongs to a class). Throws std::invalid_argument for an unknown version.
const std::vector<WorldClass>& world_classes(int version = kLatestWorldVersion);
int world_class_count(int version = kLatestWorldVersion);

// The default zero-shot split: display names of the classes a segmentation
// model must not see during training. World v2: snow, dirt, tree, flower,
// kite, flag, snail, frog (8 of 30: 2 stuff, 6 objects; parts stay seen).
// Each has a colour pair no seen class has, the shipped world CLIP segments
// it well above chance, and its name is in the captions the CLIP was
// trained on, as web captions name every class for a real CLIP; see
// unseen_classes() in host/world/src/v2/catalog_v2.cpp. Empty for world
// v1, which has no split.
std::vector<std::string> default_unseen_classes(int version = kLatestWorldVersion);

struct Scene {
  cv::Mat image;      // CV_8UC3, BGR (OpenCV order)
  cv::Mat label;      // CV_8UC1 class indices
  cv::Mat instances;  // CV_16UC1: 0 = stuff, k = the k-th visible object (parts included)
  cv::Mat parts;      // CV_16UC1: 0 = no part, k = the k-th visible part (e.g. one wheel)
  std::string caption;
};

struct SceneOptions {
  int width = 64;
  int height = 64;
  int version = kLatestWorldVersion;
};

// A deterministic scene. `scene_seed` usually comes from scene_seed().
// Instance and part ids count visible objects (parts) in drawing order from
// 1, with no gaps; a pixel's object is the last one drawn over it (occlusion).
Scene render_scene(uint64_t scene_seed, const SceneOptions& options = {});

// Mixes the world seed, the split name and the index into one scene seed.
uint64_t scene_seed(uint64_t world_seed, const std::string& split, uint64_t index);

// Writes one split in the "folder" data-set layout the harness reads:
//   ROOT/class_names.txt              one class per line, synonyms by commas
//   ROOT/unseen_classes.txt           the default zero-shot split (world v2):
//                                     one display name per line, '#' comments
//   ROOT/SPLIT/images/ID.png          the scenes (lossless)
//   ROOT/SPLIT/labels/ID.png          8-bit class indices
//   ROOT/SPLIT/instances/ID.png       16-bit object instance ids (Scene::instances)
//   ROOT/SPLIT/parts/ID.png           16-bit part instance ids (Scene::parts; world v2)
//   ROOT/SPLIT/captions.tsv           "ID<TAB>caption" per line
//   ROOT/SPLIT/world.json             version, seed, size, count, generator version
// IDs are zero-padded indices. Existing files are overwritten. Throws
// std::runtime_error naming the file when ROOT already holds a split of
// another world version (its classes would not match class_names.txt).
void write_world_split(const std::string& root, const std::string& split, int count, uint64_t world_seed,
                       const SceneOptions& options = {});

// Whether ROOT/SPLIT was written completely by this generator version with
// these arguments (its world.json matches), so it need not be written again.
bool world_split_is_current(const std::string& root, const std::string& split, int count, uint64_t world_seed,
                            const SceneOptions& options = {});

// The text of ROOT/class_names.txt and ROOT/unseen_classes.txt.
std::string world_class_names_text(int version = kLatestWorldVersion);
std::string unseen_classes_text(int version = kLatestWorldVersion);

}  // namespace ovseg::world
