// Writing a world split in the harness's "folder" layout.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>

#include "common/image_file.hpp"
#include "ovseg/world/world.hpp"
#include "ovseg/sdk/atomic_file.hpp"

namespace fs = std::filesystem;

namespace ovseg::world {

namespace {

// Small text files are written whole and renamed into place, so a reader
// never sees half a caption list.
void write_text_atomically(const fs::path& path, const std::string& text) {
  ovseg::write_text_atomically(path.string(), text);
}

// ROOT/SPLIT/world.json: everything the split's scenes are a function of.
std::string split_metadata(const std::string& split, int count, uint64_t world_seed, const SceneOptions& options) {
  std::ostringstream meta;
  meta << "{\n  \"generator\": \"ovseg world\",\n  \"generator_version\": " << kWorldGeneratorVersion
       << ",\n  \"world_version\": " << options.version << ",\n  \"seed\": " << world_seed << ",\n  \"split\": \""
       << split << "\",\n  \"count\": " << count << ",\n  \"width\": " << options.width
       << ",\n  \"height\": " << options.height << "\n}\n";
  return meta.str();
}

std::string read_text(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream text;
  text << f.rdbuf();
  return text.str();
}

// One data root holds one world version: its splits share class_names.txt.
void check_no_other_version(const fs::path& root, const std::string& split, int version) {
  if (!fs::is_directory(root)) return;
  const std::string mine = "\"world_version\": " + std::to_string(version) + ",";
  for (const auto& e : fs::directory_iterator(root)) {
    const fs::path meta = e.path() / "world.json";
    if (!e.is_directory() || e.path().filename() == split || !fs::is_regular_file(meta)) continue;
    if (read_text(meta).find(mine) == std::string::npos)
      throw std::runtime_error(meta.string() + " is not world version " + std::to_string(version) +
                               ", and its classes would no longer match " + (root / "class_names.txt").string() +
                               "; write world version " + std::to_string(version) + " to another folder");
  }
}

}  // namespace

void write_world_split(const std::string& root, const std::string& split, int count, uint64_t world_seed,
                       const SceneOptions& options) {
  if (count <= 0) throw std::invalid_argument("world split '" + split + "': count must be positive");
  if (options.width < 16 || options.height < 16)
    throw std::invalid_argument("world split '" + split + "': scenes must be at least 16x16 pixels");
  const fs::path dir = fs::path(root) / split;
  check_no_other_version(root, split, options.version);
  const bool has_parts = options.version >= 2;  // world v1's objects have no parts
  for (const char* sub : {"images", "labels", "instances", "parts"})
    if (has_parts || std::string(sub) != "parts") fs::create_directories(dir / sub);
  if (!has_parts) fs::remove_all(dir / "parts");  // left by another version
  write_text_atomically(fs::path(root) / "class_names.txt", world_class_names_text(options.version));
  const fs::path unseen = fs::path(root) / "unseen_classes.txt";
  if (const std::string text = unseen_classes_text(options.version); !text.empty())
    write_text_atomically(unseen, text);
  else
    fs::remove(unseen);  // a world without a default split must not inherit another's

  const int digits = std::max(5, static_cast<int>(std::to_string(count - 1).size()));
  std::ostringstream captions, ids;
  for (int i = 0; i < count; ++i) {
    std::ostringstream id;
    id << std::setw(digits) << std::setfill('0') << i;
    const Scene s = render_scene(scene_seed(world_seed, split, static_cast<uint64_t>(i)), options);
    write_image(dir / "images" / (id.str() + ".png"), s.image);
    write_image(dir / "labels" / (id.str() + ".png"), s.label);
    write_image(dir / "instances" / (id.str() + ".png"), s.instances);  // 16-bit PNG
    if (has_parts) write_image(dir / "parts" / (id.str() + ".png"), s.parts);
    captions << id.str() << '\t' << s.caption << '\n';
    ids << id.str() << '\n';
  }
  write_text_atomically(dir / "captions.tsv", captions.str());
  write_text_atomically(dir / (split + ".txt"), ids.str());
  // Last: its presence says the split is complete (world_split_is_current).
  write_text_atomically(dir / "world.json", split_metadata(split, count, world_seed, options));
}

bool world_split_is_current(const std::string& root, const std::string& split, int count, uint64_t world_seed,
                            const SceneOptions& options) {
  const fs::path meta = fs::path(root) / split / "world.json";
  return fs::is_regular_file(meta) && read_text(meta) == split_metadata(split, count, world_seed, options);
}

}  // namespace ovseg::world
