// COCO run-length masks, bit-compatible with pycocotools (common/maskApi.c):
// the same polygon scan conversion (rleFrPoly: coordinates upsampled by 5,
// boundary points walked and downsampled), the same box-as-polygon
// conversion, the same compressed-string RLE codec. Masks are column-major
// (Fortran order) as in COCO: run i covers pixels p with x = p / h,
// y = p % h; runs alternate 0s and 1s, starting with 0s.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core/mat.hpp>

namespace ovseg::harness::coco {

struct Rle {
  std::uint32_t h = 0;
  std::uint32_t w = 0;
  std::vector<std::uint32_t> counts;
};

// Polygon xy = [x0, y0, x1, y1, ...] of k = xy.size() / 2 points.
Rle rle_from_polygon(const std::vector<double>& xy, std::uint32_t h, std::uint32_t w);
// Box [x, y, width, height] (rasterised as its 4-corner polygon).
Rle rle_from_bbox(const double bb[4], std::uint32_t h, std::uint32_t w);
// COCO's compressed string ("LEB128-like, 6 bits/char, ascii 48..111").
Rle rle_from_string(const std::string& s, std::uint32_t h, std::uint32_t w);
std::string rle_to_string(const Rle& r);
// Encode a CV_8U mask (nonzero = 1).
Rle rle_encode(const cv::Mat& mask);
// CV_8U h x w mask of 0/1.
cv::Mat rle_decode(const Rle& r);
// Number of 1 pixels.
std::uint64_t rle_area(const Rle& r);
// Union (intersect=false) or intersection of masks of the same size.
Rle rle_merge(const std::vector<Rle>& rles, bool intersect = false);
// Sets label(y, x) = value for every 1 pixel; label is CV_32S h x w.
void rle_paint(const Rle& r, cv::Mat& label, std::int32_t value);

}  // namespace ovseg::harness::coco
