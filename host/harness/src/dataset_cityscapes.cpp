// Cityscapes: gtFine labelIds mapped to the 19 official trainIds.
#include "paired_dataset.hpp"

namespace ovseg::harness::detail {

namespace {
// cityscapesScripts helpers/labels.py: id -> trainId for the 19 evaluated
// classes; every other id (void, rectification border, license plate...) -> 255.
std::vector<int> city_lut() {
  std::vector<int> lut(256, 255);
  const int pairs[19][2] = {{7, 0},   {8, 1},   {11, 2},  {12, 3},  {13, 4},  {17, 5},  {19, 6},
                            {20, 7},  {21, 8},  {22, 9},  {23, 10}, {24, 11}, {25, 12}, {26, 13},
                            {27, 14}, {28, 15}, {31, 16}, {32, 17}, {33, 18}};
  for (const auto& p : pairs) lut[p[0]] = p[1];
  return lut;
}
}  // namespace

std::unique_ptr<Dataset> make_cityscapes(const std::string& root, const std::string& split) {
  std::vector<PairedLayout> ls;
  ls.push_back({"leftImg8bit/" + split, "gtFine/" + split, "_leftImg8bit.png", "_gtFine_labelIds.png", {}, true, {}});
  static const std::vector<int> lut = city_lut();
  PairedSpec s{"cityscapes", "cityscapes", 19, ls, [](cv::Mat& m) { apply_lut(m, lut, 255); }};
  return make_paired_dataset(s, root, split);
}

}  // namespace ovseg::harness::detail
