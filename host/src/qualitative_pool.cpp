#include "ovseg/host/qualitative_pool.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <stdexcept>

#include "ovseg/host/qualitative.hpp"

namespace ovseg {

using nlohmann::json;

namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

cv::Size thumbnail_size(int width, int height) {
  const double scale = std::min(1.0, static_cast<double>(kThumbnailSide) / std::max(width, height));
  return {std::max(1, static_cast<int>(width * scale + 0.5)), std::max(1, static_cast<int>(height * scale + 0.5))};
}

// 8-bit PNG (255 = ignored) below 255 classes, else 16-bit (65535 = ignored).
std::string label_png(const cv::Mat& labels, int ignore_index, int num_classes, cv::Size size) {
  const bool wide = num_classes >= 255;
  const int ignored = wide ? 65535 : 255;
  cv::Mat out(labels.size(), wide ? CV_16U : CV_8U);
  for (int y = 0; y < labels.rows; ++y)
    for (int x = 0; x < labels.cols; ++x) {
      const int k = labels.at<int32_t>(y, x);
      const int v = (k == ignore_index || k < 0 || k >= num_classes) ? ignored : k;
      if (wide)
        out.at<uint16_t>(y, x) = static_cast<uint16_t>(v);
      else
        out.at<uint8_t>(y, x) = static_cast<uint8_t>(v);
    }
  cv::Mat small;
  cv::resize(out, small, size, 0, 0, cv::INTER_NEAREST);  // no invented classes at borders
  std::vector<uchar> png;
  cv::imencode(".png", small, png, {cv::IMWRITE_PNG_COMPRESSION, 9});
  return base64_encode(png);
}

}  // namespace

std::vector<size_t> qualitative_pool(const std::vector<std::string>& ids, size_t pool) {
  std::vector<size_t> order(ids.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const uint64_t ha = fnv1a(ids[a]), hb = fnv1a(ids[b]);
    return ha != hb ? ha < hb : ids[a] < ids[b];
  });
  order.resize(std::min(pool, order.size()));
  return order;
}

json qualitative_block() {
  return {{"format", kQualitativeFormat},
          {"pool", kQualitativePool},
          {"thumbnail_side", kThumbnailSide},
          {"images", json::array()}};
}

json qualitative_entry(const std::string& id, size_t rank, const cv::Mat& bgr, const cv::Mat& gt, const cv::Mat& pred,
                       int ignore_index, int num_classes) {
  if (gt.size() != pred.size() || gt.type() != CV_32S || pred.type() != CV_32S)
    throw std::invalid_argument("qualitative_entry: truth and prediction must be CV_32S maps of one size");
  std::map<int, std::array<int64_t, 3>> counts;  // class -> gt, pred, intersection
  for (int y = 0; y < gt.rows; ++y)
    for (int x = 0; x < gt.cols; ++x) {
      const int g = gt.at<int32_t>(y, x), p = pred.at<int32_t>(y, x);
      if (g == ignore_index) continue;
      ++counts[g][0];
      ++counts[p][1];
      if (g == p) ++counts[g][2];
    }
  json classes = json::array();
  for (const auto& [c, n] : counts) classes.push_back({c, n[0], n[1], n[2]});
  const cv::Size size = thumbnail_size(gt.cols, gt.rows);
  cv::Mat image;
  cv::resize(bgr, image, size, 0, 0, cv::INTER_AREA);
  std::vector<uchar> jpeg;
  cv::imencode(".jpg", image, jpeg, {cv::IMWRITE_JPEG_QUALITY, 75});
  return {{"id", id},
          {"rank", rank},
          {"width", gt.cols},
          {"height", gt.rows},
          {"image", base64_encode(jpeg)},
          {"truth", label_png(gt, ignore_index, num_classes, size)},
          {"prediction", label_png(pred, ignore_index, num_classes, size)},
          {"classes", classes}};
}

json merge_qualitative(const std::vector<json>& blocks) {
  json out = qualitative_block();
  std::map<size_t, json> by_rank;
  for (const auto& b : blocks) {
    if (!b.is_object() || b.value("format", "") != kQualitativeFormat) continue;  // records before pools
    out["pool"] = b.value("pool", kQualitativePool);
    for (const auto& img : b.at("images")) by_rank.emplace(img.at("rank").get<size_t>(), img);
  }
  for (auto& [rank, img] : by_rank) out["images"].push_back(std::move(img));
  return out;
}

std::vector<unsigned char> base64_decode(const std::string& text) {
  static const std::string table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<unsigned char> out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const auto pos = table.find(c);
    if (pos == std::string::npos) {
      if (c == '\n' || c == '\r') continue;
      throw std::invalid_argument("base64: invalid character");
    }
    buffer = (buffer << 6) | static_cast<uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<unsigned char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

cv::Mat decode_label_thumbnail(const std::string& base64_png) {
  const std::vector<unsigned char> bytes = base64_decode(base64_png);
  const cv::Mat raw = cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
  if (raw.empty() || raw.channels() != 1) throw std::invalid_argument("not a stored label thumbnail");
  const int ignored = raw.depth() == CV_16U ? 65535 : 255;
  cv::Mat out(raw.size(), CV_32S);
  for (int y = 0; y < raw.rows; ++y)
    for (int x = 0; x < raw.cols; ++x) {
      const int v = raw.depth() == CV_16U ? raw.at<uint16_t>(y, x) : raw.at<uint8_t>(y, x);
      out.at<int32_t>(y, x) = v == ignored ? -1 : v;
    }
  return out;
}

}  // namespace ovseg
