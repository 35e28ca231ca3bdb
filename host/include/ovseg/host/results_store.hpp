// The results store: one JSON record per evaluation run in a folder
// (default results/runs). Files are written to a temporary name, fsync'ed and
// renamed, so a reader (or a crash) never sees a half-written record.
//
// A record's file name is a pure function of what identifies the run
// (pipeline name and resolved-TOML hash, data set, split, limit, shard,
// precision other than fp32), so a rerun of the same command finds its own
// record and its checkpoint `<key>.partial.json`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ovseg {

inline constexpr const char* kRecordKind = "ovseg-eval-record";
inline constexpr const char* kPartialKind = "ovseg-eval-partial";

struct RunKey {
  std::string pipeline_name;
  std::string pipeline_sha256;  // of the resolved TOML (protocol included)
  std::string dataset;          // canonical name
  std::string split;
  long limit = -1;  // -1 = every image
  int shard_index = 0, shard_count = 1;
  std::string precision = "fp32";  // "bf16" / "fp16": `--precision`; records without it are fp32

  // e.g. "colour-prototypes__coco_object__val__3f2a9c1b04de__limit3__shard1of2"
  std::string stem() const;
};

std::string record_path(const std::string& results_dir, const RunKey& key);
std::string partial_path(const std::string& results_dir, const RunKey& key);

// Creates `dir` (and parents) and checks it is writable; else throws an
// ovseg::Error naming it: "DIR: error: cannot write WHAT here: Permission
// denied" instead of std::filesystem's raw text.
void create_output_folder(const std::string& dir, const std::string& what);

// Writes `j` to `path` via `path.tmp.<pid>` + fsync + rename (+ fsync of the
// folder); creates the folder. Throws std::runtime_error naming the file.
void write_json_atomic(const std::string& path, const nlohmann::json& j);
// nullopt when the file does not exist; throws naming the file when it is
// not valid JSON.
std::optional<nlohmann::json> read_json_file(const std::string& path);

// "" when `record` has every field `ovseg table` / `merge` read, with the
// right JSON type; else what is wrong ("field 'metrics' is missing").
std::string record_schema_problem(const nlohmann::json& record);

// Every record (kind == kRecordKind) in `dir`, sorted by file name; partial
// checkpoints and foreign files are skipped; a corrupt or schema-bad record
// is skipped with a warning on stderr naming it. Each gets "_file" = its path.
std::vector<nlohmann::json> load_records(const std::string& dir);
// One record file as load_records reads it; nullopt (with the warning) for
// a file that is not a readable eval record.
std::optional<nlohmann::json> load_record_file(const std::string& file);

// UTC ISO 8601, e.g. "2026-11-22T04:35:23Z".
std::string utc_now_iso8601();

}  // namespace ovseg
