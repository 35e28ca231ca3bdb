// The HTML report's focus sections (`ovseg table --focus LIST --format
// html`, seed 003: "why is person segmentation poor?"): for each focus class
// and data set, per method the class's IoU, precision and recall as bars,
// the classes its pixels were missed as and taken from (the --focus table's
// numbers, class_focus.hpp), then the images where that class is worst.
#include <cmath>
#include <sstream>

#include "ovseg/host/benchmark_names.hpp"
#include "ovseg/host/class_focus.hpp"
#include "report_parts.hpp"

namespace ovseg::report {

namespace {

// A horizontal bar of a fraction with its value, "-" when undefined.
std::string bar(double v, const std::string& colour) {
  if (!std::isfinite(v)) return "<td>-</td>";
  std::ostringstream os;
  const double p = 100.0 * v;
  os << "<td class='fb'><span class='fbar'><i style='width:" << num(p, 1) << "%;background:" << colour
     << "'></i></span>" << num(p, 1) << "</td>";
  return os.str();
}

// "background 12.3%" chips, largest first.
std::string chips(const std::vector<std::pair<std::string, double>>& shares) {
  if (shares.empty()) return "<td class='chips'>-</td>";
  std::string out = "<td class='chips'>";
  for (const auto& [name, share] : shares)
    out += "<span>" + esc(name) + " <b>" + num(100.0 * share, 1) + "%</b></span>";
  return out + "</td>";
}

const char* kFocusStyle =
    "<style>td.fb{min-width:150px}.fbar{display:inline-block;width:90px;height:10px;background:#eee;margin-right:6px;"
    "vertical-align:-1px}.fbar i{display:block;height:10px}td.chips{text-align:left;white-space:normal;max-width:330px}"
    "td.chips span{display:inline-block;background:#f1f1f1;border-radius:3px;padding:1px 5px;margin:1px 4px 1px 0;"
    "font-size:12px}</style>";

}  // namespace

std::string focus_sections(const ComparisonTable& t, const ReportOptions& o) {
  if (o.focus.empty()) return "";
  std::vector<nlohmann::json> records;
  for (const auto& row : t.rows) records.insert(records.end(), row.records.begin(), row.records.end());
  ClassFocusOptions fo;
  fo.classes = o.focus;
  fo.top_confusions = o.focus_top;
  const auto tables = class_focus_tables(records, fo);
  std::ostringstream os;
  os << kFocusStyle << "<div id='focus'></div>";
  for (size_t i = 0; i < tables.size(); ++i) {
    const auto& ft = tables[i];
    os << "<section id='focus-" << i << "'><h2>Focus: " << esc(ft.class_name) << " on "
       << esc(dataset_short_name(ft.dataset)) << "</h2><p class='cap'>Per method, from the confusion matrix each "
       << "record stores: IoU, precision (correct / pixels predicted as " << esc(ft.class_name)
       << "), recall (correct / its ground-truth pixels); <i>missed as</i>: where its ground-truth pixels went (% of "
       << "them); <i>taken from</i>: what the pixels predicted as it really were (% of them).</p>"
       << "<div class='scroll'><table class='sortable'><thead><tr><th>Method</th><th>IoU</th><th>Precision</th>"
       << "<th>Recall</th><th>GT pixels</th><th>Predicted</th><th>Missed as</th><th>Taken "
          "from</th></tr></thead><tbody>";
    for (size_t r = 0; r < ft.rows.size(); ++r) {
      const auto& row = ft.rows[r];
      os << "<tr><td>" << esc(row.method) << "</td>" << bar(row.iou, iou_colour(60)) << bar(row.precision, "#59a14f")
         << bar(row.recall, "#e15759") << "<td>" << row.gt_pixels << "</td><td>" << row.pred_pixels << "</td>"
         << chips(row.missed_as) << chips(row.taken_from) << "</tr>";
    }
    os << "</tbody></table></div>";
    ReportOptions worst = o;
    worst.rule = "worst:" + ft.class_name;
    worst.images = o.focus_images;
    os << "<h3 style='font-size:14px;margin:14px 0 4px'>Where " << esc(ft.class_name) << " is worst</h3>"
       << qualitative_section(t, worst) << "</section>\n";
  }
  return os.str();
}

}  // namespace ovseg::report
