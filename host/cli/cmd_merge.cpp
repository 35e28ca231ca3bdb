// `ovseg merge RECORD...`: the shards of one eval run -> the unsharded record
// (confusion matrices summed, metrics recomputed).
#include <iostream>

#include "commands.hpp"
#include "ovseg/host/eval_run.hpp"
#include "ovseg/host/results_store.hpp"

namespace ovseg::cli {

namespace {

int run_merge(const ParsedArgs& args) {
  std::vector<nlohmann::json> records;
  for (const auto& path : args.positionals) {
    auto j = read_json_file(path);
    if (!j) throw std::runtime_error(path + ": no such record");
    (*j)["_file"] = path;
    records.push_back(std::move(*j));
  }
  nlohmann::json merged = merge_records(records);
  std::string out = args.get("--out");
  if (out.empty()) out = record_path(args.get("--results", "results/runs"), record_key(merged));
  write_json_atomic(out, merged);
  std::cout << "merged " << records.size() << " shard records: " << merged["selection"]["num_images"]
            << " images, mIoU " << merged["metrics"]["mIoU"].dump() << "\nwrote " << out << "\n";
  return 0;
}

}  // namespace

Command merge_command() {
  CommandSpec spec;
  spec.name = "merge";
  spec.summary = "merge the shard records of one eval run into its full record";
  spec.usage = "RECORD.json... [--results DIR | --out FILE]";
  spec.min_positionals = 1;
  spec.max_positionals = 100000;
  spec.options = {{"--results", "DIR", "store the merged record here (default results/runs)", false},
                  {"--out", "FILE", "write the merged record to FILE instead", false}};
  spec.details =
      "Every shard i/N of the run must be given once, and all must share the pipeline hash,\n"
      "protocol, data set, split and limit (the first field that differs is named).";
  return {spec, run_merge};
}

}  // namespace ovseg::cli
