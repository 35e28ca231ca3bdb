// The two classical algorithms CLIPtrase's clustering step calls from
// scikit-learn and SciPy, re-stated on plain buffers so results match them
// label for label.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace ovseg::training_free {

// sklearn.cluster.DBSCAN(eps, min_samples).fit_predict(points) with the
// Euclidean metric: points (n, dim) float; returns n labels, -1 = noise,
// clusters numbered 0.. in the order sklearn discovers them (a point's
// neighbourhood includes itself and every point at distance <= eps; border
// points join the first cluster that reaches them).
std::vector<int64_t> dbscan(const at::Tensor& points, double eps, int64_t min_samples);

// scipy.ndimage.median_filter(img, size=size) with its default mode
// 'reflect' (d c b a | a b c d | d c b a), on a (h, w) float map; size odd.
at::Tensor median_filter(const at::Tensor& img, int64_t size);

}  // namespace ovseg::training_free
