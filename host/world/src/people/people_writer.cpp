// Writing a people-world split in the on-disk layouts of LIP, CIHP and
// PASCAL-Person-Part (see people.hpp), so the harness adapters read it as
// they read the real data sets. Images are JPEG (quality 95) like the real
// sets'; labels are 8-bit PNG class ids.
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>

#include "../common/image_file.hpp"
#include "ovseg/world/people.hpp"
#include "ovseg/world/world.hpp"

namespace fs = std::filesystem;

namespace ovseg::world {

namespace {

void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream f(path, std::ios::binary);
  if (!(f << text)) throw std::runtime_error("cannot write " + path.string());
}

std::string names_text(const std::vector<std::string>& names) {
  std::string t;
  for (const auto& n : names) t += n + "\n";
  return t;
}

}  // namespace

void write_people_split(const std::string& root_str, const std::string& split, int count, uint64_t world_seed,
                        int width, int height) {
  if (split != "train" && split != "val")
    throw std::invalid_argument("people world split '" + split + "': must be train or val (the data sets' own splits)");
  if (count <= 0) throw std::invalid_argument("people world split '" + split + "': count must be positive");
  if (width < 32 || height < 32)
    throw std::invalid_argument("people world split '" + split + "': scenes must be at least 32x32 pixels");
  const fs::path root(root_str);
  const fs::path lip_img = root / "lip/TrainVal_images" / (split + "_images");
  const fs::path lip_lab = root / "lip/TrainVal_parsing_annotations" / (split + "_segmentations");
  const fs::path cihp = root / "cihp/instance-level_human_parsing" / (split == "val" ? "Validation" : "Training");
  const fs::path ppp = root / "pascal_person_part";
  for (const fs::path& d : {lip_img, lip_lab, cihp / "Images", cihp / "Category_ids", cihp / "Human_ids",
                            ppp / "JPEGImages", ppp / "SegmentationPart", ppp / "list"})
    fs::create_directories(d);
  const std::vector<int> jpeg = {cv::IMWRITE_JPEG_QUALITY, 95};
  std::ostringstream ids, captions;
  for (int i = 0; i < count; ++i) {
    std::ostringstream id;
    id << split << '_' << std::setw(5) << std::setfill('0') << i;
    const PeopleScene sc = render_people_scene(scene_seed(world_seed, "people/" + split, static_cast<uint64_t>(i)),
                                               width, height);
    const cv::Mat lip = people_lip_labels(sc), ppp_lab = people_ppp_labels(sc);
    write_image(lip_img / (id.str() + ".jpg"), sc.image, jpeg);
    write_image(lip_lab / (id.str() + ".png"), lip);
    write_image(cihp / "Images" / (id.str() + ".jpg"), sc.image, jpeg);
    write_image(cihp / "Category_ids" / (id.str() + ".png"), lip);  // CIHP shares LIP's 20 classes
    write_image(cihp / "Human_ids" / (id.str() + ".png"), sc.person);
    write_image(ppp / "JPEGImages" / (id.str() + ".jpg"), sc.image, jpeg);
    write_image(ppp / "SegmentationPart" / (id.str() + ".png"), ppp_lab);
    ids << id.str() << '\n';
    captions << id.str() << '\t' << sc.caption << '\n';
  }
  write_file(root / "lip/TrainVal_images" / (split + "_id.txt"), ids.str());
  write_file(cihp / (split + "_id.txt"), ids.str());
  write_file(ppp / "list" / (split + "_id.txt"), ids.str());
  write_file(root / (split + "_captions.tsv"), captions.str());
  write_file(root / "part_names_lip.txt", names_text(people_lip_part_names()));
  write_file(root / "part_names_pascal_person_part.txt", names_text(people_ppp_part_names()));
  std::ostringstream meta;
  meta << "{\n  \"generator\": \"ovseg world --people\",\n  \"generator_version\": " << kWorldGeneratorVersion
       << ",\n  \"seed\": " << world_seed << ",\n  \"split\": \"" << split << "\",\n  \"count\": " << count
       << ",\n  \"width\": " << width << ",\n  \"height\": " << height << "\n}\n";
  write_file(root / ("people_" + split + ".json"), meta.str());
}

}  // namespace ovseg::world
