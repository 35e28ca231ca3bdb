// Internal: a pipeline file as one TOML document, after what the file says
// about other documents and data sets, in this order:
//   base = "other.toml"      the other file first (relative to this one;
//                            chains allowed, cycles refused); this file's
//                            tables and keys are merged into it key by key
//                            (tables recursively), as mmseg's `_base_`, so a
//                            method changes one parameter of a shared node
//                            without repeating the node;
//   unset = ["nodes.x.key"]  keys of the base deleted after the merge (TOML
//                            has no null: this is mmseg's `_delete_` and the
//                            `key = null` of other formats);
//   [datasets.NAME]          the settings for one data set (tables protocol,
//                            nodes, outputs, vocabulary and an unset list),
//                            merged the same way when the pipeline is
//                            evaluated on NAME (a name or alias of
//                            harness::make_dataset); the [datasets] table is
//                            then dropped, so the resolved document is what
//                            ran on that data set;
//   --unset, then --set      the command line, last.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "ovseg/host/pipeline_spec.hpp"
#include "ovseg/sdk/diagnostics.hpp"

namespace ovseg::detail {

// Where a value came from: its file and place, or the --set that made it.
struct LocationTracker {
  std::string file;                                     // the pipeline file
  std::map<const toml::node*, std::string> overridden;  // node -> "--set ..." text
  std::map<std::string, int> file_rank;                 // base chain: the deepest base is 0

  SourceLocation at(const toml::node& n) const;
  // Sort key of a location's file: base files before the files built on
  // them; -1 for a value the command line made.
  int rank(const SourceLocation& where) const;
};

struct PipelineDocument {
  toml::table root;                         // resolved: no base, unset or datasets keys left
  std::string family_toml;                  // before the data set's settings and the overrides
  std::vector<std::string> family_edits;    // the overrides, as typed
  std::vector<std::string> dataset_tables;  // canonical names of the [datasets.*] tables
  std::string dataset;                      // the one applied ("" none)
  std::vector<std::string> files;           // the base chain, this file first
};

// `dataset` may be empty (no data set's settings), a name or an alias. A
// data set the pipeline has no table for gets the common settings.
PipelineDocument resolve_pipeline_document(const std::string& text, const std::string& file,
                                           const std::vector<Override>& overrides, const std::string& dataset,
                                           LocationTracker& loc);

}  // namespace ovseg::detail
