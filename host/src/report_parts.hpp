// Internal to the HTML report: escaping, colour scales, and the sections
// built in their own files (plots, qualitative grid).
#pragma once

#include <string>

#include "ovseg/host/report.hpp"
#include "ovseg/host/tables.hpp"

namespace ovseg::report {

std::string esc(const std::string& s);

// Categorical colour of the i-th method (Tableau 10, then lighter repeats).
std::string method_colour(size_t i);
// Sequential colour of an IoU in [0, 100] (white to dark blue) and the text
// colour readable on it; the page's script uses the same scales.
std::string iou_colour(double iou);
std::string text_colour_on(double iou);
// "0.0" style number.
std::string num(double v, int decimals);

// <svg> grouped bars: the table's main metric per row, grouped by data set
// (and Avg); "" when the table has no such column.
std::string grouped_bars(const ComparisonTable& t);
// <svg> plots of the metric against each numeric axis of an ablation; ""
// when there is none.
std::string parameter_plots(const ComparisonTable& t);
// The qualitative comparison grid(s) with their legends and rule, or a note
// saying why there is none.
std::string qualitative_section(const ComparisonTable& t, const ReportOptions& o);
// One <section> per focus class and data set (o.focus): per method IoU,
// precision, recall and confusions from the stored confusion matrices, and
// the images where that class is segmented worst. "" without o.focus.
std::string focus_sections(const ComparisonTable& t, const ReportOptions& o);

}  // namespace ovseg::report
