// The procedural scene world behind the embedded default model: "thing"
// shapes (each class with typical colours and a characteristic surface pattern,
// varied in period, phase and orientation, or plain; several instances,
// three scales, occlusion) on textured "stuff" backgrounds, with pixel ground
// truth and an open-vocabulary caption per scene (class synonyms, colour and
// pattern words, counts, several sentence templates).
//
// Everything is a pure function of (world seed, split, index): scenes are
// generated independently, so any one can be re-created, and two machines
// write byte-identical data sets. Only OpenCV drawing is used.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core/mat.hpp>

namespace ovseg::world {

struct WorldClass {
  std::string name;                   // display name, first synonym
  std::vector<std::string> synonyms;  // words captions use for it
  bool thing = false;                 // shapes are things; backgrounds are stuff
};

// The label ids are indices into this list (label 255 is never used: every
// pixel belongs to a class).
const std::vector<WorldClass>& world_classes();
int world_class_count();

struct Scene {
  cv::Mat image;  // CV_8UC3, BGR (OpenCV order)
  cv::Mat label;  // CV_8UC1 class indices
  std::string caption;
};

struct SceneOptions {
  int width = 64;
  int height = 64;
};

// A deterministic scene. `scene_seed` usually comes from scene_seed().
Scene render_scene(uint64_t scene_seed, const SceneOptions& options = {});

// Mixes the world seed, the split name and the index into one scene seed.
uint64_t scene_seed(uint64_t world_seed, const std::string& split, uint64_t index);

// Writes one split in the "folder" data-set layout the harness reads:
//   ROOT/class_names.txt              one class per line, synonyms by commas
//   ROOT/SPLIT/images/ID.png          the scenes (lossless)
//   ROOT/SPLIT/labels/ID.png          8-bit class indices
//   ROOT/SPLIT/captions.tsv           "ID<TAB>caption" per line
//   ROOT/SPLIT/world.json             seed, size, count and generator version
// IDs are zero-padded indices. Existing files are overwritten.
void write_world_split(const std::string& root, const std::string& split, int count,
                       uint64_t world_seed, const SceneOptions& options = {});

// Whether ROOT/SPLIT was written completely by this generator version with
// these arguments (its world.json matches), so it need not be written again.
bool world_split_is_current(const std::string& root, const std::string& split, int count,
                            uint64_t world_seed, const SceneOptions& options = {});

// The text of ROOT/class_names.txt.
std::string world_class_names_text();

// Bumped whenever a change alters generated pixels or captions.
inline constexpr int kWorldGeneratorVersion = 6;

}  // namespace ovseg::world
