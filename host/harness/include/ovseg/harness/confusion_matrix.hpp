// Confusion matrix of a semantic-segmentation evaluation run.
//
// K x K int64 counts, rows = ground truth class, columns = predicted class.
// Pixels whose ground truth equals the ignore index are skipped. Counting is
// exact integer arithmetic, so matrices of disjoint parts of a data set (one
// per image, per shard, per machine) merge into exactly the matrix of the
// whole: merge() is plain element-wise addition.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <opencv2/core/mat.hpp>

namespace ovseg::harness {

class ConfusionMatrix {
 public:
  ConfusionMatrix() = default;
  // A zero matrix of num_classes x num_classes; num_classes must be >= 1.
  explicit ConfusionMatrix(int num_classes);

  int num_classes() const { return k_; }

  // Count one image. gt and pred: same size, single channel, CV_8U, CV_16U
  // or CV_32S (the two may differ in type). Pixels with gt == ignore_index
  // are skipped (pass a negative ignore_index to skip nothing). Any other gt
  // value or any pred value outside [0, K) throws std::out_of_range naming
  // the value and pixel; on a throw the matrix is left unchanged.
  void add(const cv::Mat& gt, const cv::Mat& pred, int ignore_index = 255);
  // Same on raw arrays of n labels each.
  void add(const std::int32_t* gt, const std::int32_t* pred, std::size_t n, int ignore_index = 255);
  void add(const std::uint8_t* gt, const std::uint8_t* pred, std::size_t n, int ignore_index = 255);

  // this += other; throws std::invalid_argument if the sizes differ.
  void merge(const ConfusionMatrix& other);
  ConfusionMatrix& operator+=(const ConfusionMatrix& other) {
    merge(other);
    return *this;
  }

  std::int64_t at(int gt, int pred) const;
  std::int64_t& at(int gt, int pred);
  // Row-major K*K counts.
  const std::vector<std::int64_t>& counts() const { return counts_; }

  std::int64_t total() const;            // all counted pixels
  std::int64_t gt_count(int c) const;    // row sum
  std::int64_t pred_count(int c) const;  // column sum

  void clear();
  bool operator==(const ConfusionMatrix& o) const { return k_ == o.k_ && counts_ == o.counts_; }
  bool operator!=(const ConfusionMatrix& o) const { return !(*this == o); }

  // {"num_classes": K, "rows": [[...K counts...], ... K rows]}; rows = gt.
  nlohmann::json to_json() const;
  // Inverse of to_json; throws std::invalid_argument on a malformed object
  // (missing keys, wrong row count or length, negative or non-integer counts).
  static ConfusionMatrix from_json(const nlohmann::json& j);
  std::string to_json_string(int indent = -1) const;
  static ConfusionMatrix from_json_string(const std::string& text);

 private:
  template <typename G, typename P>
  void add_impl(const G* gt, const P* pred, std::size_t n, int ignore_index, int width);

  int k_ = 0;
  std::vector<std::int64_t> counts_;
};

}  // namespace ovseg::harness
