// The report's qualitative grid: rows = images, columns = image, ground
// truth and each selected method, picked from the pool images every
// selected method stored (qualitative_pool.hpp) by a rule.
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <cstdio>
#include <random>
#include <set>
#include <sstream>

#include "ovseg/host/benchmark_names.hpp"
#include "ovseg/host/image_io.hpp"
#include "ovseg/host/qualitative.hpp"
#include "ovseg/host/qualitative_pool.hpp"
#include "ovseg/sdk/diagnostics.hpp"
#include "report_parts.hpp"

namespace ovseg::report {

namespace {

using nlohmann::json;

struct Method {
  std::string label;
  const json* record;
  std::map<std::string, const json*> images;  // id -> pool entry
};

bool has_pool(const json& record) {
  const json q = record.value("qualitative", json());
  return q.is_object() && q.value("format", "") == kQualitativeFormat && !q.value("images", json::array()).empty();
}

// Class colours as `ovseg run` draws them (image_io's palette); white = ignored.
std::string colour_png(const cv::Mat& labels) {
  cv::Mat out(labels.size(), CV_8UC3);
  for (int y = 0; y < labels.rows; ++y)
    for (int x = 0; x < labels.cols; ++x) {
      const int k = labels.at<int32_t>(y, x);
      uint8_t rgb[3] = {255, 255, 255};
      if (k >= 0) palette_rgb(k, rgb);
      out.at<cv::Vec3b>(y, x) = cv::Vec3b(rgb[2], rgb[1], rgb[0]);
    }
  std::vector<uchar> png;
  cv::imencode(".png", out, png);
  return base64_encode(png);
}

std::string swatch(int k) {
  uint8_t rgb[3];
  palette_rgb(k, rgb);
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
  return buf;
}

double image_iou(const json& entry, int cls, bool* present) {
  for (const auto& c : entry.at("classes"))
    if (c[0].get<int>() == cls) {
      const double g = c[1].get<double>(), p = c[2].get<double>(), i = c[3].get<double>();
      *present = g > 0;
      return g + p - i > 0 ? 100.0 * i / (g + p - i) : 0.0;
    }
  *present = false;
  return 0;
}

// Mean IoU over the classes in the image's truth or prediction.
double image_miou(const json& entry) {
  double sum = 0;
  int n = 0;
  for (const auto& c : entry.at("classes")) {
    const double g = c[1].get<double>(), p = c[2].get<double>(), i = c[3].get<double>();
    if (g + p - i > 0) sum += 100.0 * i / (g + p - i), ++n;
  }
  return n ? sum / n : 0;
}

// Fraction (%) of labelled pixels where two predictions differ, on the
// stored thumbnails.
double disagreement(const json& a, const json& b) {
  const cv::Mat truth = decode_label_thumbnail(a.at("truth").get<std::string>());
  const cv::Mat pa = decode_label_thumbnail(a.at("prediction").get<std::string>());
  const cv::Mat pb = decode_label_thumbnail(b.at("prediction").get<std::string>());
  if (pa.size() != pb.size() || truth.size() != pa.size()) return 0;
  long differ = 0, total = 0;
  for (int y = 0; y < truth.rows; ++y)
    for (int x = 0; x < truth.cols; ++x) {
      if (truth.at<int32_t>(y, x) < 0) continue;
      ++total;
      differ += pa.at<int32_t>(y, x) != pb.at<int32_t>(y, x);
    }
  return total ? 100.0 * differ / total : 0;
}

const Method* find_method(const std::vector<Method>& methods, const std::string& name) {
  for (const auto& m : methods)
    if (m.label == name || m.record->at("pipeline").value("name", "") == name) return &m;
  return nullptr;
}

struct Pick {
  std::string id;
  std::string why;  // the rule's score for this image
};

std::string grid(const std::string& ds, const std::vector<Method>& all, const ReportOptions& o, std::string* note) {
  // The methods shown: as asked, else every row with pool images (at most 10).
  std::vector<const Method*> methods;
  if (o.methods.empty()) {
    for (size_t i = 0; i < all.size() && i < 10; ++i) methods.push_back(&all[i]);
    if (all.size() > 10) *note += "The grid shows the first 10 rows; choose others with --methods. ";
  } else {
    for (const auto& name : o.methods) {
      if (const Method* m = find_method(all, name))
        methods.push_back(m);
      else
        *note += "No row named '" + name + "' has stored images on " + dataset_short_name(ds) + ". ";
    }
  }
  if (methods.empty()) return "";
  // Images every shown method stored, in pool order.
  std::vector<std::pair<size_t, std::string>> common;
  for (const auto& [id, entry] : methods[0]->images) {
    bool everywhere = true;
    for (const auto* m : methods) everywhere &= m->images.count(id) > 0;
    if (everywhere) common.push_back({entry->at("rank").get<size_t>(), id});
  }
  std::sort(common.begin(), common.end());
  if (common.empty()) {
    *note += "The selected methods stored no image in common (different selections or limits). ";
    return "";
  }
  const std::string kind = o.rule.substr(0, o.rule.find(':'));
  const std::string arg = o.rule.find(':') == std::string::npos ? "" : o.rule.substr(o.rule.find(':') + 1);
  std::vector<Pick> picks;
  std::string rule_text;
  const auto& class_names = methods[0]->record->at("dataset").value("class_names", std::vector<std::string>());
  if (kind == "random") {
    // Fisher-Yates with mt19937_64: the same seed picks the same images everywhere.
    std::mt19937_64 rng(arg.empty() ? 0 : std::stoull(arg));
    for (size_t i = common.size(); i > 1; --i) std::swap(common[i - 1], common[rng() % i]);
    for (const auto& [rank, id] : common) picks.push_back({id, ""});
    rule_text = "random images (seed " + (arg.empty() ? std::string("0") : arg) + ")";
  } else if (kind == "worst") {
    std::vector<std::pair<double, std::string>> scored;
    int cls = -1;
    if (!arg.empty()) {
      const auto it = std::find(class_names.begin(), class_names.end(), arg);
      if (it == class_names.end()) {
        *note += "'" + arg + "' is not a class of " + dataset_short_name(ds) + did_you_mean(arg, class_names) + ". ";
        return "";
      }
      cls = static_cast<int>(it - class_names.begin());
    }
    for (const auto& [rank, id] : common) {
      double sum = 0;
      bool present = true;
      for (const auto* m : methods) {
        bool p = true;
        sum += cls >= 0 ? image_iou(*m->images.at(id), cls, &p) : image_miou(*m->images.at(id));
        present &= p;
      }
      if (present) scored.push_back({sum / methods.size(), id});
    }
    std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [score, id] : scored)
      picks.push_back({id, (cls >= 0 ? "IoU(" + arg + ") " : "image mIoU ") + num(score, 1) + " (mean)"});
    rule_text = cls >= 0 ? "images where '" + arg + "' is segmented worst (lowest IoU of '" + arg +
                               "' averaged over the methods shown, among images containing it)"
                         : "images segmented worst (lowest per-image mIoU averaged over the methods shown)";
    if (picks.empty()) *note += "No stored image contains '" + arg + "'. ";
  } else {  // disagree
    const Method* a = methods[0];
    const Method* b = methods.size() > 1 ? methods[1] : nullptr;
    if (!arg.empty()) {
      const std::string an = arg.substr(0, arg.find(',')), bn = arg.substr(arg.find(',') + 1);
      a = find_method(all, an);
      b = find_method(all, bn);
      if (!a || !b) {
        *note += "disagree: no row named '" + (!a ? an : bn) + "'. ";
        return "";
      }
    }
    if (!b) {
      *note += "disagree needs two methods. ";
      return "";
    }
    std::vector<std::pair<double, std::string>> scored;
    for (const auto& [rank, id] : common)
      if (a->images.count(id) && b->images.count(id))
        scored.push_back({disagreement(*a->images.at(id), *b->images.at(id)), id});
    std::stable_sort(scored.begin(), scored.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
    for (const auto& [score, id] : scored) picks.push_back({id, num(score, 1) + "% of pixels differ"});
    rule_text = "images where " + a->label + " and " + b->label +
                " disagree most (share of labelled pixels predicted differently)";
  }
  if (picks.size() > static_cast<size_t>(std::max(1, o.images)))
    picks.resize(static_cast<size_t>(std::max(1, o.images)));
  if (picks.empty()) return "";

  // Thumbnails scale to fit about 1200 px; label maps stay crisp (pixelated).
  const int columns = 2 + static_cast<int>(methods.size());
  const int width = std::clamp(1180 / columns - 6, 64, 200);
  std::ostringstream os;
  std::set<int> shown;
  os << "<h3 style='font-size:14px;margin:8px 0'>" << esc(dataset_short_name(ds)) << ": " << esc(rule_text) << "</h3>"
     << "<div class='scroll'><table class='grid'><thead><tr><th></th><th>image</th><th>ground truth</th>";
  for (const auto* m : methods) os << "<th style='max-width:" << width << "px'>" << esc(m->label) << "</th>";
  os << "</tr></thead><tbody>";
  for (const auto& p : picks) {
    const json& first = *methods[0]->images.at(p.id);
    os << "<tr><td class='id'>" << esc(p.id) << (p.why.empty() ? "" : "<br>" + esc(p.why)) << "</td>"
       << "<td><img width='" << width << "' style='image-rendering:auto' alt='" << esc(p.id)
       << "' src='data:image/jpeg;base64," << first.at("image").get<std::string>() << "'></td>";
    const cv::Mat truth = decode_label_thumbnail(first.at("truth").get<std::string>());
    for (int y = 0; y < truth.rows; ++y)
      for (int x = 0; x < truth.cols; ++x)
        if (truth.at<int32_t>(y, x) >= 0) shown.insert(truth.at<int32_t>(y, x));
    os << "<td><img width='" << width << "' alt='truth' src='data:image/png;base64," << colour_png(truth) << "'></td>";
    for (const auto* m : methods) {
      const json& e = *m->images.at(p.id);
      const cv::Mat pred = decode_label_thumbnail(e.at("prediction").get<std::string>());
      for (int y = 0; y < pred.rows; ++y)
        for (int x = 0; x < pred.cols; ++x)
          if (pred.at<int32_t>(y, x) >= 0) shown.insert(pred.at<int32_t>(y, x));
      os << "<td><img width='" << width << "' alt='" << esc(m->label) << "' title='" << esc(m->label) << ": image mIoU "
         << num(image_miou(e), 1) << "' src='data:image/png;base64," << colour_png(pred) << "'></td>";
    }
    os << "</tr>";
  }
  os << "</tbody></table></div><div class='legend'>";
  for (int k : shown)
    os << "<span><i style='background:" << swatch(k) << "'></i>"
       << esc(k < static_cast<int>(class_names.size()) ? class_names[k] : std::to_string(k)) << "</span>";
  os << "<span><i style='background:#fff'></i>ignored</span></div>";
  return os.str();
}

}  // namespace

std::string qualitative_section(const ComparisonTable& t, const ReportOptions& o) {
  // Per data set, the rows whose records hold pool images.
  std::map<std::string, std::vector<Method>> by_dataset;
  std::vector<std::string> order, legacy;
  for (const auto& r : t.rows)
    for (const auto& rec : r.records) {
      const std::string ds = rec.at("dataset").at("name");
      if (!has_pool(rec)) {
        if (rec.value("qualitative", json()).is_array()) legacy.push_back(r.label);
        continue;
      }
      Method m{r.label, &rec, {}};
      for (const auto& img : rec.at("qualitative").at("images")) m.images[img.at("id").get<std::string>()] = &img;
      if (!by_dataset.count(ds)) order.push_back(ds);
      by_dataset[ds].push_back(std::move(m));
    }
  std::ostringstream os;
  os << "<p class='cap'>Rows: images; columns: the image, its ground truth and each method's prediction, from the "
        "images every run stores for comparison (the same images for every method; see qualitative_pool.hpp). "
        "Choose them with <code>--images random:SEED | worst:CLASS | disagree:A,B</code> and the methods with "
        "<code>--methods</code>.</p>";
  std::string note;
  bool any = false;
  for (const auto& ds : order) {
    const std::string g = grid(ds, by_dataset[ds], o, &note);
    any |= !g.empty();
    os << g;
  }
  if (!legacy.empty()) {
    std::string names;
    for (const auto& l : legacy) names += (names.empty() ? "" : ", ") + l;
    note += "Not in the grid (stored before per-image predictions were recorded; rerun with --force): " + names + ". ";
  }
  if (!any && note.empty()) note = "No record stores comparison images.";
  if (!note.empty()) os << "<p class='note'>" << esc(note) << "</p>";
  return os.str();
}

}  // namespace ovseg::report
