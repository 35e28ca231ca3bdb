// Writing the object-level people world in the harness's "folder" layout
// (`--dataset world`, what `ovseg train-clip --data` reads): people scenes
// (the very scenes of the LIP / CIHP / PASCAL-Person-Part layouts) with a
// "person" class, interleaved with plain world v2 scenes without people.
#include <filesystem>
#include <iomanip>
#include <sstream>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>

#include "../common/image_file.hpp"
#include "ovseg/sdk/atomic_file.hpp"
#include "ovseg/world/people.hpp"
#include "ovseg/world/world.hpp"

namespace fs = std::filesystem;

namespace ovseg::world {

namespace {

std::string numbered(const std::string& prefix, int i) {
  std::ostringstream id;
  id << prefix << std::setw(5) << std::setfill('0') << i;
  return id.str();
}

struct SplitFiles {
  fs::path dir;
  std::ostringstream ids, captions;

  void add(const std::string& id, const cv::Mat& image, const cv::Mat& label, const cv::Mat& instances,
           const cv::Mat& parts, const std::string& caption) {
    write_image(dir / "images" / (id + ".png"), image);
    write_image(dir / "labels" / (id + ".png"), label);
    write_image(dir / "instances" / (id + ".png"), instances);
    write_image(dir / "parts" / (id + ".png"), parts);
    ids << id << '\n';
    captions << id << '\t' << caption << '\n';
  }
};

}  // namespace

void write_people_world_split(const std::string& root_str, const std::string& split, int count, int plain,
                              uint64_t world_seed, int width, int height) {
  if (split != "train" && split != "val")
    throw std::invalid_argument("people world split '" + split + "': must be train or val");
  if (count <= 0 || plain < 0)
    throw std::invalid_argument("people world split '" + split + "': needs people scenes (count " +
                                std::to_string(count) + ") and no negative plain count (" + std::to_string(plain) +
                                ")");
  if (width < 32 || height < 32)
    throw std::invalid_argument("people world split '" + split + "': scenes must be at least 32x32 pixels");
  const fs::path root(root_str);
  SplitFiles out;
  out.dir = root / split;
  for (const char* sub : {"images", "labels", "instances", "parts"}) fs::create_directories(out.dir / sub);
  write_text_atomically((root / "class_names.txt").string(), people_world_class_names_text());
  write_text_atomically((root / "unseen_classes.txt").string(), unseen_classes_text(2));
  SceneOptions plain_options;
  plain_options.width = width;
  plain_options.height = height;
  plain_options.version = 2;
  // Interleaved (people, plain, people, ...) under one running id, so
  // `--limit N` and the report's image pool (the ids with the smallest
  // FNV-1a hash: two id patterns would land it all on one kind) see both.
  std::ostringstream sources;
  int next = 0;
  for (int i = 0; i < std::max(count, plain); ++i) {
    if (i < count) {
      // The same seed as write_people_split's scene i: the same picture.
      const PeopleScene sc = render_people_scene(scene_seed(world_seed, "people/" + split, static_cast<uint64_t>(i)),
                                                 width, height);
      const std::string id = numbered(split + "_", next++);
      out.add(id, sc.image, people_world_labels(sc), people_world_instances(sc), people_world_parts(sc),
              sc.world_caption);
      sources << id << '\t' << numbered(split + "_", i) << '\n';
    }
    if (i < plain) {
      const Scene s = render_scene(scene_seed(world_seed, "people-plain/" + split, static_cast<uint64_t>(i)),
                                   plain_options);
      const std::string id = numbered(split + "_", next++);
      out.add(id, s.image, s.label, s.instances, s.parts, s.caption);
      sources << id << "\tplain " << i << '\n';
    }
  }
  write_text_atomically((out.dir / "sources.tsv").string(), sources.str());
  write_text_atomically((out.dir / "captions.tsv").string(), out.captions.str());
  write_text_atomically((out.dir / (split + ".txt")).string(), out.ids.str());
  std::ostringstream meta;
  meta << "{\n  \"generator\": \"ovseg world --people (object level)\",\n  \"generator_version\": "
       << kWorldGeneratorVersion << ",\n  \"world_version\": 2,\n  \"classes\": " << kPeopleWorldPersonClass + 1
       << ",\n  \"seed\": " << world_seed << ",\n  \"split\": \"" << split << "\",\n  \"people_scenes\": " << count
       << ",\n  \"plain_scenes\": " << plain << ",\n  \"width\": " << width << ",\n  \"height\": " << height << "\n}\n";
  write_text_atomically((out.dir / "world.json").string(), meta.str());
}

}  // namespace ovseg::world
