// Writing a world split in the harness's "folder" layout.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>

#include "ovseg/world/world.hpp"

namespace fs = std::filesystem;

namespace ovseg::world {

namespace {

// Small text files are written whole and renamed into place, so a reader
// never sees half a caption list.
void write_text_atomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!(f << text)) throw std::runtime_error("cannot write " + tmp.string());
  }
  fs::rename(tmp, path);
}

void write_png(const fs::path& path, const cv::Mat& m) {
  if (!cv::imwrite(path.string(), m)) throw std::runtime_error("cannot write " + path.string());
}

// ROOT/SPLIT/world.json: everything the split's scenes are a function of.
std::string split_metadata(const std::string& split, int count, uint64_t world_seed, const SceneOptions& options) {
  std::ostringstream meta;
  meta << "{\n  \"generator\": \"ovseg world\",\n  \"generator_version\": " << kWorldGeneratorVersion
       << ",\n  \"seed\": " << world_seed << ",\n  \"split\": \"" << split << "\",\n  \"count\": " << count
       << ",\n  \"width\": " << options.width << ",\n  \"height\": " << options.height << "\n}\n";
  return meta.str();
}

}  // namespace

void write_world_split(const std::string& root, const std::string& split, int count,
                       uint64_t world_seed, const SceneOptions& options) {
  if (count <= 0) throw std::invalid_argument("world split '" + split + "': count must be positive");
  if (options.width < 16 || options.height < 16)
    throw std::invalid_argument("world split '" + split + "': scenes must be at least 16x16 pixels");
  const fs::path dir = fs::path(root) / split;
  fs::create_directories(dir / "images");
  fs::create_directories(dir / "labels");
  write_text_atomically(fs::path(root) / "class_names.txt", world_class_names_text());

  const int digits = std::max(5, static_cast<int>(std::to_string(count - 1).size()));
  std::ostringstream captions, ids;
  for (int i = 0; i < count; ++i) {
    std::ostringstream id;
    id << std::setw(digits) << std::setfill('0') << i;
    const Scene s = render_scene(scene_seed(world_seed, split, static_cast<uint64_t>(i)), options);
    write_png(dir / "images" / (id.str() + ".png"), s.image);
    write_png(dir / "labels" / (id.str() + ".png"), s.label);
    captions << id.str() << '\t' << s.caption << '\n';
    ids << id.str() << '\n';
  }
  write_text_atomically(dir / "captions.tsv", captions.str());
  write_text_atomically(dir / (split + ".txt"), ids.str());
  // Last: its presence says the split is complete (world_split_is_current).
  write_text_atomically(dir / "world.json", split_metadata(split, count, world_seed, options));
}

bool world_split_is_current(const std::string& root, const std::string& split, int count,
                            uint64_t world_seed, const SceneOptions& options) {
  std::ifstream f(fs::path(root) / split / "world.json", std::ios::binary);
  if (!f) return false;
  std::stringstream have;
  have << f.rdbuf();
  return have.str() == split_metadata(split, count, world_seed, options);
}

}  // namespace ovseg::world
