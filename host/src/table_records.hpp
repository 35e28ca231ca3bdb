// Internal to the table builders: records grouped into rows, the numbers a
// record reports, the protocol lines every table prints, and ranking.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ovseg/host/tables.hpp"

namespace ovseg::tables {

// The runs of one pipeline under one condition: (name, resolved-TOML sha256,
// limit), newest record per data set.
struct RecordRow {
  std::string name, sha, limit;
  nlohmann::json protocol;
  std::map<std::string, nlohmann::json> by_dataset;
  std::string label;       // name, or name [what differs] when names repeat
  std::string first_date;  // the earliest record's date (default row order)
};

// Rows ordered by their first record's date (the order they were evaluated),
// then by name; shard records are skipped and counted.
std::vector<RecordRow> group_record_rows(const std::vector<nlohmann::json>& records, int* skipped_shards);

// A record's number for `metric`: mIoU, mAcc, aAcc, fwIoU, or seen / unseen /
// hIoU from its zero-shot block; nullopt when absent or NaN.
std::optional<double> record_metric(const nlohmann::json& record, const std::string& metric);

// "%.*f"; "-" for nullopt.
std::string format_number(std::optional<double> v, int decimals);

// Lines for the footer: the protocol (once when every row shares it), and per
// row its images, pipeline knobs (templates, logit scale, background
// threshold, postprocessing), weights and pipeline hash. per_row = false
// (ablations, where rows differ only along the axes): the first row's line
// stands for all.
std::vector<std::string> protocol_footer(const std::vector<const RecordRow*>& rows, bool per_row = true);
// One sentence for captions: "336 short side, 224 / 112 sliding window, ..."
// when every row shares the protocol, else "per-row protocols below".
std::string protocol_sentence(const std::vector<const RecordRow*>& rows);

// Marks the best (rank 1) and second (rank 2) value of every ranked column,
// comparing values at the printed precision (ties share a rank). A column
// with fewer than two values is not marked.
void rank_columns(ComparisonTable& t);

}  // namespace ovseg::tables
