// Human parsing: LIP (20), CIHP (20), PASCAL-Person-Part (7).
#include "paired_dataset.hpp"

namespace ovseg::harness::detail {

std::unique_ptr<Dataset> make_lip(const std::string& root, const std::string& split) {
  std::vector<PairedLayout> ls;
  const std::string img = split + "_images", lab = split + "_segmentations", list = split + "_id.txt";
  ls.push_back({img, lab, ".jpg", ".png", {list}, false, {".png"}});
  ls.push_back({"TrainVal_images/" + img,
                "TrainVal_parsing_annotations/" + lab,
                ".jpg",
                ".png",
                {list, "TrainVal_images/" + list},
                false,
                {".png"}});
  ls.push_back({"TrainVal_images/TrainVal_images/" + img,
                "TrainVal_parsing_annotations/TrainVal_parsing_annotations/" + lab,
                ".jpg",
                ".png",
                {list, "TrainVal_images/" + list},
                false,
                {".png"}});
  ls.push_back({"images", "labels", ".jpg", ".png", {}, false, {".png"}});
  PairedSpec s{"lip", "lip", 20, ls, {}};
  return make_paired_dataset(s, root, split);
}

std::unique_ptr<Dataset> make_cihp(const std::string& root, const std::string& split) {
  const std::string sub = split == "val" ? "Validation" : split == "train" ? "Training" : split;
  std::vector<PairedLayout> ls;
  for (const std::string& prefix : {std::string(), std::string("instance-level_human_parsing/")}) {
    ls.push_back({prefix + sub + "/Images",
                  prefix + sub + "/Category_ids",
                  ".jpg",
                  ".png",
                  {prefix + sub + "/" + split + "_id.txt"},
                  false,
                  {".png"}});
  }
  ls.push_back({"images", "labels", ".jpg", ".png", {}, false, {".png"}});  // flat sample layout
  PairedSpec s{"cihp", "cihp", 20, ls, {}};
  return make_paired_dataset(s, root, split);
}

std::unique_ptr<Dataset> make_pascal_person_part(const std::string& root, const std::string& split) {
  std::vector<PairedLayout> ls;
  ls.push_back({"JPEGImages",
                "SegmentationPart",
                ".jpg",
                ".png",
                {"list/" + split + "_id.txt", split + "_id.txt"},
                false,
                {".png"}});
  ls.push_back({"images", "labels", ".jpg", ".png", {split + "_id.txt"}, false, {".png"}});
  PairedSpec s{"pascal_person_part", "pascal_person_part", 7, ls, {}};
  return make_paired_dataset(s, root, split);
}

}  // namespace ovseg::harness::detail
