// Row layouts for `ovseg table --rows FILE`: which rows, in which order,
// under which group headers, and (for TOML layouts) the table's settings.
//
// FILE may be
//  - a layout (TOML with [table] and/or [[group]]):
//      [table]                          # all optional; the command line wins
//      datasets = ["VOC21", "PC60", "Object", "VOC20", "PC59", "Stuff", "City", "ADE"]
//      metric = "mIoU"                  # mIoU, mAcc, aAcc, fwIoU, hIoU
//      avg = "all"                      # common, all, none, or ["VOC21", "PC60"]
//      decimals = 1
//      caption = "..."
//      [[group]]
//      name = "Training-free"           # the group's header row
//      rows = [
//        { published = "sclip-b16" },   # a published row (results/published)
//        "naclip+pamr",                 # the stored rows of this pipeline
//        { pipeline = "naclip+pamr", label = "NACLIP (ours)", published = "naclip-pamr-b16" },
//      ]                                # ^ with a Δ against that published row
//  - a demo file ([demo] + [[run]]): the runs' order, no groups;
//  - a sweep file ([sweep]): the sweep's ablation table (its points, in order);
//  - any other file: one pipeline name per line, "published:ID" for a
//    published row, "[Name]" starts a group, "#" starts a comment.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ovseg/host/sweep.hpp"
#include "ovseg/host/tables.hpp"

namespace ovseg {

struct TableLayout {
  std::vector<RowGroup> groups;
  std::optional<SweepSpec> sweep;  // the file was a sweep file
  // [table] settings; empty / -1 = not set.
  std::vector<std::string> datasets;
  std::string metric, avg, caption;
  std::vector<std::string> avg_over;  // avg = [list]
  int decimals = -1;

  bool names_published() const;  // does any row place or reference a published row?
};

// Errors are ovseg::Error naming the file and line.
TableLayout load_table_layout(const std::string& path);

}  // namespace ovseg
