// ADE20K (150 classes, reduce zero label) and COCO-Stuff 164k (171 classes).
#include "paired_dataset.hpp"

namespace ovseg::harness::detail {

std::unique_ptr<Dataset> make_ade20k(const std::string& root, const std::string& split) {
  const std::string sub = split == "val" ? "validation" : split == "train" ? "training" : split;
  std::vector<PairedLayout> ls;
  for (const std::string& prefix : {std::string(), std::string("ADEChallengeData2016/")}) {
    ls.push_back({prefix + "images/" + sub, prefix + "annotations/" + sub, ".jpg", ".png", {}, false, {}});
  }
  ls.push_back({"images", "annotations", ".jpg", ".png", {}, false, {}});  // flat sample layout
  PairedSpec s{"ade20k", "ade20k", 150, ls, reduce_zero_label};
  return make_paired_dataset(s, root, split);
}

std::unique_ptr<Dataset> make_coco_stuff171(const std::string& root, const std::string& split) {
  const std::string sub = (split.size() > 4 && split.substr(split.size() - 4) == "2017") ? split : split + "2017";
  std::vector<PairedLayout> ls;
  ls.push_back({"images/" + sub, "annotations/" + sub, ".jpg", "_labelTrainIds.png", {}, false, {}});
  ls.push_back({"images", "annotations", ".jpg", "_labelTrainIds.png", {}, false, {}});
  PairedSpec s{"coco_stuff171", "coco_stuff", 171, ls, {}};
  return make_paired_dataset(s, root, split);
}

}  // namespace ovseg::harness::detail
