// Published reference rows: the numbers the papers print, shipped as data
// (results/published/*.toml) so a comparison table can put them beside the
// reproduced ones. Nothing here is measured; every row names its paper's
// citation key and where in the paper (or its official repository) the
// numbers are printed. A number that could not be sourced is absent.
//
//   [paper]
//   key = "hajimiri2025naclip"           # BibTeX key (LaTeX tables \cite it)
//   title = "Pay Attention to Your Neighbours: ..."
//   venue = "WACV 2025"
//   url = "https://arxiv.org/abs/2404.08181"
//
//   [[row]]
//   id = "naclip-pamr-b16"               # unique over all files
//   method = "NACLIP"                    # the row label
//   backbone = "ViT-B/16"
//   group = "Training-free"              # row group in tables
//   source = "official README, Results"  # where the numbers are printed
//   protocol = "336 short side, 224/112 slide, PAMR"   # optional, free text
//   reproduced_by = ["naclip+pamr"]      # ovseg pipeline names (Δ column)
//   mIoU = { voc21 = 64.07, context60 = 34.99 }   # data set -> percent
//   mAcc = { ... }  aAcc = { ... }  fwIoU = { ... }   # optional
//   avg = { mIoU = 42.46 }               # optional: the Avg the source prints
//                                        # (over exactly the data sets listed)
//   [row.zero_shot]                      # optional: seen / unseen / hIoU
//   voc20 = { seen = 92.8, unseen = 84.4, hIoU = 88.4 }
//
// Data set keys are harness names, short names ("PC60") or the extra
// benchmarks of benchmark_names.hpp (A-847, PC-459, VOC20b).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ovseg {

struct PublishedRow {
  std::string id, method, backbone, group, source, protocol;
  std::string cite, paper_title, venue, url;  // from [paper]
  std::string file;                           // the data file
  std::vector<std::string> reproduced_by;
  // metric -> canonical data set -> percent. Metrics: mIoU, mAcc, aAcc,
  // fwIoU, and from [row.zero_shot]: seen, unseen, hIoU.
  std::map<std::string, std::map<std::string, double>> values;
  // metric -> the average the source prints over the data sets listed for
  // that metric. Papers average unrounded numbers, so this can differ from
  // the mean of the printed ones in the last digit (MaskCLIP: 30.3 vs 30.25).
  std::map<std::string, double> printed_avg;

  std::optional<double> value(const std::string& metric, const std::string& dataset) const;
};

// Every row of `path` (one .toml file, or every *.toml in a folder, in file
// name order; rows in file order). Errors are ovseg::Error with file:line.
std::vector<PublishedRow> load_published(const std::string& path);

// The row with this id, or throws std::invalid_argument with the nearest ids.
const PublishedRow& find_published(const std::vector<PublishedRow>& rows, const std::string& id);

}  // namespace ovseg
