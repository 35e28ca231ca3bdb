#include "ovseg/harness/confusion_matrix.hpp"

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

namespace ovseg::harness {

ConfusionMatrix::ConfusionMatrix(int num_classes) : k_(num_classes) {
  if (num_classes < 1)
    throw std::invalid_argument("ConfusionMatrix: num_classes must be >= 1, got " + std::to_string(num_classes));
  counts_.assign(static_cast<std::size_t>(k_) * k_, 0);
}

namespace {
std::string where(std::size_t i, int width) {
  if (width <= 0) return "index " + std::to_string(i);
  return "pixel (x=" + std::to_string(i % width) + ", y=" + std::to_string(i / width) + ")";
}
}  // namespace

template <typename G, typename P>
void ConfusionMatrix::add_impl(const G* gt, const P* pred, std::size_t n, int ignore_index, int width) {
  if (k_ < 1) throw std::logic_error("ConfusionMatrix::add on an empty (0-class) matrix");
  // Validate first so that a throw leaves the matrix unchanged.
  const long long k = k_;
  for (std::size_t i = 0; i < n; ++i) {
    const long long g = static_cast<long long>(gt[i]);
    if (g == ignore_index) continue;
    if (g < 0 || g >= k)
      throw std::out_of_range("ConfusionMatrix::add: ground-truth label " + std::to_string(g) + " at " +
                              where(i, width) + " is outside [0, " + std::to_string(k) +
                              ") and is not the ignore index " + std::to_string(ignore_index));
    const long long p = static_cast<long long>(pred[i]);
    if (p < 0 || p >= k)
      throw std::out_of_range("ConfusionMatrix::add: predicted label " + std::to_string(p) + " at " + where(i, width) +
                              " is outside [0, " + std::to_string(k) + ")");
  }
  std::int64_t* c = counts_.data();
  for (std::size_t i = 0; i < n; ++i) {
    const long long g = static_cast<long long>(gt[i]);
    if (g == ignore_index) continue;
    ++c[g * k + static_cast<long long>(pred[i])];
  }
}

void ConfusionMatrix::add(const std::int32_t* gt, const std::int32_t* pred, std::size_t n, int ignore_index) {
  add_impl(gt, pred, n, ignore_index, 0);
}
void ConfusionMatrix::add(const std::uint8_t* gt, const std::uint8_t* pred, std::size_t n, int ignore_index) {
  add_impl(gt, pred, n, ignore_index, 0);
}

namespace {
std::string type_name(int depth) {
  switch (depth) {
    case CV_8U: return "CV_8U";
    case CV_8S: return "CV_8S";
    case CV_16U: return "CV_16U";
    case CV_16S: return "CV_16S";
    case CV_32S: return "CV_32S";
    case CV_32F: return "CV_32F";
    case CV_64F: return "CV_64F";
    default: return "depth " + std::to_string(depth);
  }
}
void check_label_mat(const cv::Mat& m, const char* what) {
  if (m.empty()) throw std::invalid_argument(std::string("ConfusionMatrix::add: ") + what + " is empty");
  if (m.channels() != 1 || m.dims != 2)
    throw std::invalid_argument(std::string("ConfusionMatrix::add: ") + what +
                                " must be a single-channel 2-D label map, got " + std::to_string(m.channels()) +
                                " channels");
  const int d = m.depth();
  if (d != CV_8U && d != CV_16U && d != CV_32S)
    throw std::invalid_argument(std::string("ConfusionMatrix::add: ") + what +
                                " must be CV_8U, CV_16U or CV_32S, got " + type_name(d));
}
}  // namespace

void ConfusionMatrix::add(const cv::Mat& gt, const cv::Mat& pred, int ignore_index) {
  check_label_mat(gt, "ground truth");
  check_label_mat(pred, "prediction");
  if (gt.size() != pred.size())
    throw std::invalid_argument("ConfusionMatrix::add: ground truth is " + std::to_string(gt.cols) + "x" +
                                std::to_string(gt.rows) + " but prediction is " + std::to_string(pred.cols) + "x" +
                                std::to_string(pred.rows) + " (width x height)");
  // Work on continuous int32 copies when the types differ or the data is
  // strided; the common cases (same type, continuous) take no copy.
  cv::Mat g = gt, p = pred;
  if (g.depth() != p.depth() || !g.isContinuous() || !p.isContinuous()) {
    gt.convertTo(g, CV_32S);
    pred.convertTo(p, CV_32S);
  }
  const std::size_t n = g.total();
  const int w = g.cols;
  switch (g.depth()) {
    case CV_8U: add_impl(g.ptr<std::uint8_t>(), p.ptr<std::uint8_t>(), n, ignore_index, w); break;
    case CV_16U: add_impl(g.ptr<std::uint16_t>(), p.ptr<std::uint16_t>(), n, ignore_index, w); break;
    default: add_impl(g.ptr<std::int32_t>(), p.ptr<std::int32_t>(), n, ignore_index, w); break;
  }
}

void ConfusionMatrix::merge(const ConfusionMatrix& other) {
  if (k_ == 0 && counts_.empty()) {  // an empty matrix adopts the other's size
    *this = other;
    return;
  }
  if (other.k_ == 0) return;
  if (other.k_ != k_)
    throw std::invalid_argument("ConfusionMatrix::merge: " + std::to_string(k_) + " classes vs " +
                                std::to_string(other.k_));
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
}

std::int64_t ConfusionMatrix::at(int gt, int pred) const {
  if (gt < 0 || gt >= k_ || pred < 0 || pred >= k_)
    throw std::out_of_range("ConfusionMatrix::at(" + std::to_string(gt) + ", " + std::to_string(pred) + ") with " +
                            std::to_string(k_) + " classes");
  return counts_[static_cast<std::size_t>(gt) * k_ + pred];
}
std::int64_t& ConfusionMatrix::at(int gt, int pred) {
  if (gt < 0 || gt >= k_ || pred < 0 || pred >= k_)
    throw std::out_of_range("ConfusionMatrix::at(" + std::to_string(gt) + ", " + std::to_string(pred) + ") with " +
                            std::to_string(k_) + " classes");
  return counts_[static_cast<std::size_t>(gt) * k_ + pred];
}

std::int64_t ConfusionMatrix::total() const {
  std::int64_t s = 0;
  for (auto v : counts_) s += v;
  return s;
}
std::int64_t ConfusionMatrix::gt_count(int c) const {
  std::int64_t s = 0;
  for (int j = 0; j < k_; ++j) s += at(c, j);
  return s;
}
std::int64_t ConfusionMatrix::pred_count(int c) const {
  std::int64_t s = 0;
  for (int i = 0; i < k_; ++i) s += at(i, c);
  return s;
}
void ConfusionMatrix::clear() { std::fill(counts_.begin(), counts_.end(), 0); }

nlohmann::json ConfusionMatrix::to_json() const {
  nlohmann::json rows = nlohmann::json::array();
  for (int i = 0; i < k_; ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (int j = 0; j < k_; ++j) row.push_back(counts_[static_cast<std::size_t>(i) * k_ + j]);
    rows.push_back(std::move(row));
  }
  return nlohmann::json{{"num_classes", k_}, {"rows", std::move(rows)}};
}

ConfusionMatrix ConfusionMatrix::from_json(const nlohmann::json& j) {
  auto bad = [](const std::string& why) { return std::invalid_argument("ConfusionMatrix::from_json: " + why); };
  if (!j.is_object()) throw bad("expected an object");
  if (!j.contains("num_classes") || !j["num_classes"].is_number_integer()) throw bad("missing integer \"num_classes\"");
  if (!j.contains("rows") || !j["rows"].is_array()) throw bad("missing array \"rows\"");
  const auto k = j["num_classes"].get<long long>();
  if (k < 1 || k > 100000) throw bad("num_classes " + std::to_string(k) + " out of range");
  const auto& rows = j["rows"];
  if (rows.size() != static_cast<std::size_t>(k))
    throw bad("\"rows\" has " + std::to_string(rows.size()) + " rows, expected " + std::to_string(k));
  ConfusionMatrix cm(static_cast<int>(k));
  for (long long r = 0; r < k; ++r) {
    const auto& row = rows[r];
    if (!row.is_array() || row.size() != static_cast<std::size_t>(k))
      throw bad("row " + std::to_string(r) + " is not an array of " + std::to_string(k) + " counts");
    for (long long c = 0; c < k; ++c) {
      const auto& v = row[c];
      if (!v.is_number_integer())
        throw bad("count at row " + std::to_string(r) + ", column " + std::to_string(c) + " is not an integer");
      const auto x = v.get<long long>();
      if (x < 0) throw bad("negative count at row " + std::to_string(r) + ", column " + std::to_string(c));
      cm.counts_[static_cast<std::size_t>(r * k + c)] = x;
    }
  }
  return cm;
}

std::string ConfusionMatrix::to_json_string(int indent) const { return to_json().dump(indent); }

ConfusionMatrix ConfusionMatrix::from_json_string(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("ConfusionMatrix::from_json_string: ") + e.what());
  }
  return from_json(j);
}

}  // namespace ovseg::harness
