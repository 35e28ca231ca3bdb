// Sweep files: a base pipeline, axes of values to vary, and data sets. Every
// point of the axes' cartesian product is one stored run, so an ablation grid
// is a TOML file and one command.
//
//   [sweep]
//   name = "naclip-sigma"
//   pipeline = "../naclip.toml"          # relative to this file
//   datasets = ["coco_object"]
//   limit = 50                           # optional: first N images
//   unset = ["nodes.refine.attention"]   # optional: keys deleted for every point
//   set = ["nodes.refine.plugin=last_block"]  # optional: fixed for every point
//   train = "world"                      # optional: train every point first (below)
//
//   [data_roots]                         # optional; --data-root NAME=DIR overrides
//   coco_object = "/data/coco"
//
//   [axes]                               # any --set path; values are TOML
//   "nodes.refine.gaussian_std" = [3.0, 5.0, 7.0]
//   "protocol.short_side" = [224, 336]
//
// Paths: a string value in `set` or [axes] that names an existing file or
// folder relative to this sweep file is made absolute, so it resolves from
// the sweep that wrote it (not from the base pipeline's folder); other
// strings (zoo names, words) pass as written. Labels and tables show the
// values as written.
//
// Records of a sweep's points carry its label (sweep_points, below), so
// `ovseg table` names such a row "naclip [gaussian_std=3.0]".
//
// With `train = "DATASET"` an ablation that changes what a model learns is a
// sweep too: every point is trained (`ovseg train`, on DATASET's data root,
// the pipeline's [train] recipe) into RUNS/<hash>/ and then evaluated with
// its weights. The folder is keyed by the point's resolved pipeline and
// training data, so a rerun (or another sweep with the same point) reuses a
// finished training and resumes an interrupted one, and an edited recipe
// trains anew.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ovseg/host/pipeline_spec.hpp"
#include "ovseg/host/tables.hpp"

namespace ovseg {

struct SweepAxis {
  std::string path;                  // "nodes.refine.gaussian_std"
  std::vector<std::string> values;   // TOML text of each value: "3.0", "\"best7\"" (paths made absolute)
  std::vector<std::string> written;  // the same values as the file writes them (labels, tables)
};

struct SweepSpec {
  std::string file;
  std::string name;
  std::string pipeline;  // resolved path of the base pipeline
  std::vector<std::string> datasets;
  std::map<std::string, std::string> data_roots;  // resolved paths
  long limit = -1;
  std::vector<Override> fixed;  // [sweep] unset = [...] then set = [...], applied before the axes
  std::vector<SweepAxis> axes;  // in file order
  std::string train;            // data set every point is trained on first; "" = none
};

struct SweepPoint {
  std::vector<Override> overrides;  // the sweep's fixed ones, then one per axis
  std::vector<std::string> values;  // each axis's value as written
  std::string label;                // "gaussian_std=3.0, short_side=224"
};

// Parses and checks a sweep file; errors name the file, line and key.
SweepSpec load_sweep(const std::string& path);

// The cartesian product of the axes, first axis varying slowest.
std::vector<SweepPoint> sweep_points(const SweepSpec& spec);

// Which point a pipeline is, read from its resolved TOML (as records store
// it): the one whose fixed overrides and axis values it carries, compared as
// TOML text written the way the sweep writes values; nullopt for none.
std::optional<size_t> sweep_point_of(const SweepSpec& spec, const std::vector<SweepPoint>& points,
                                     const std::string& resolved_toml);

// The ablation of a sweep from stored records: every point with the records
// of the base pipeline (by name) that are that point, one per data set of
// the sweep (the newest; records with the sweep's limit preferred), run in
// `precision` ("fp32", "bf16", "fp16": a bf16 run of a point is another
// experiment, not a newer fp32 one). Points without records stay, with none.
AblationInput ablation_from_records(const SweepSpec& spec, const std::vector<nlohmann::json>& records,
                                    const std::string& precision = "fp32");

// A record's sweep labels: record["sweep_points"] = [{"sweep": name, "label":
// "gaussian_std=3.0"}, ...], one entry per sweep that ran or found it.
// Sets this sweep's entry (last, as the newest); returns whether the record
// changed (then the caller writes it back).
bool label_sweep_point(nlohmann::json& record, const std::string& sweep, const std::string& label);
// The newest sweep label of a record; "" when no sweep labelled it.
std::string sweep_label(const nlohmann::json& record);

}  // namespace ovseg
