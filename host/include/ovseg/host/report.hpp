// The HTML report: one self-contained page (inline CSS, JS and SVG; images
// as data: URLs; no external scripts or fonts, so it works offline) built
// from a ComparisonTable and the records its rows carry:
//   - the table itself (groups, published rows, best bold / second
//     underlined), columns sortable by a click;
//   - a per-class heat map per data set (rows x classes, cells coloured by
//     IoU; a second view colours the difference to a baseline row, chosen
//     in the page), sortable;
//   - SVG plots: mIoU per method and data set (grouped bars) and, for an
//     ablation over a numeric axis, the metric against that parameter;
//   - a qualitative grid: rows = images, columns = image, ground truth and
//     each selected method, with a colour legend of the classes shown;
//     images chosen by a rule from the records' pool (qualitative_pool.hpp).
#pragma once

#include <string>
#include <vector>

#include "ovseg/host/tables.hpp"

namespace ovseg {

struct ReportOptions {
  std::string title;                 // page heading; "" = the table's title
  std::string baseline;              // heat-map Δ baseline (row label or pipeline); "" = first row
  std::vector<std::string> methods;  // grid columns (row labels or pipelines); empty = every row, at most 10
  // Which images the grid shows:
  //   random[:SEED]       a seeded shuffle of the images every method stored (default random:0)
  //   worst[:CLASS]       lowest IoU of CLASS (mean over the methods), or lowest per-image mIoU
  //   disagree[:A,B]      most pixels where methods A and B differ (default: the first two)
  std::string rule = "random:0";
  int images = 6;
  // Classes to look at closely (`ovseg table --focus LIST --format html`):
  // a section per class and data set with the --focus table's numbers
  // (IoU, precision, recall, confusions), bars, and the images where the
  // class is worst. Empty: none.
  std::vector<std::string> focus;
  int focus_top = 3;     // confusions listed per method
  int focus_images = 4;  // images per focus class
};

// Throws std::invalid_argument for a malformed rule ("worst", "worst:car",
// "disagree", "disagree:a,b", "random", "random:7" are well formed).
void check_image_rule(const std::string& rule);

std::string render_report(const ComparisonTable& table, const ReportOptions& options);

}  // namespace ovseg
