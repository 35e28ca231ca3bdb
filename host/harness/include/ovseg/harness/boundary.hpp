// Boundary quality: the trimap IoU (Kohli, Ladicky & Torr 2009; DeepLab's
// "trimap" evaluation): the usual per-class IoU, counted only on pixels
// within `radius` pixels of a ground-truth boundary. Bilinear upsampling of
// coarse logits misplaces class edges by up to a patch; a learned upsampler
// (LoftUp) or a CRF moves them, which the band measures and whole-image
// mIoU barely sees.
//
// Definitions (fixed, so that records compare):
//   boundary pixel  a pixel whose right or lower neighbour has another ground-
//                   truth value (void included: void bands are edges too);
//                   both pixels of such a pair are boundary pixels
//   band            pixels within `radius` (Euclidean) of a boundary pixel:
//                   the boundary mask dilated by a (2r+1)-pixel ellipse
//   radius          max(1, round(0.02 x image diagonal)): the band Boundary
//                   IoU (Cheng et al. 2021) uses, 4 px on 128 px images,
//                   12 px on 336 x 500
//   trimap mIoU     mIoU of the confusion matrix of the band's non-void pixels
// The band's confusion matrix merges across images, shards and machines
// exactly as the whole-image one does.
#pragma once

#include <opencv2/core/mat.hpp>

#include "ovseg/harness/confusion_matrix.hpp"

namespace ovseg::harness {

inline constexpr double kBoundaryDilationRatio = 0.02;

// max(1, round(ratio * sqrt(height^2 + width^2))).
int boundary_radius(int height, int width, double ratio = kBoundaryDilationRatio);

// CV_8UC1, 1 inside the band of `gt` (CV_8U, CV_16U or CV_32S labels).
cv::Mat boundary_band(const cv::Mat& gt, int radius);

// Counts the band's pixels of one image into `cm` (others are skipped like
// void). Same contract as ConfusionMatrix::add for the labels.
void add_boundary(ConfusionMatrix& cm, const cv::Mat& gt, const cv::Mat& pred, int ignore_index = 255,
                  double ratio = kBoundaryDilationRatio);

}  // namespace ovseg::harness
