// An experiment folder (`--work-dir DIR`, as mmseg's work_dirs): the records,
// tables and report of one study in one place, while the shared results
// store keeps serving resumes. `ovseg eval` and `ovseg sweep` run into the
// store as always, then copy each record they produced or found stored into
// DIR/records/ (so a second study with an overlapping run reuses the stored
// result and still lists it), append the command to DIR/commands.txt, and
// rewrite DIR's tables; `ovseg table --work-dir DIR` renders the study again.
//
//   DIR/records/<key>.json     the study's records (copies of the store's)
//   DIR/commands.txt           every command that added to the study
//   DIR/table.{md,tex,html}    every record of the study (ovseg eval)
//   DIR/<sweep>.{md,tex,html}  a sweep's ablation table (ovseg sweep)
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ovseg/host/tables.hpp"

namespace ovseg {

class StudyFolder {
 public:
  // Creates DIR and DIR/records when missing; throws naming DIR when it cannot.
  explicit StudyFolder(std::string dir);

  const std::string& dir() const { return dir_; }
  std::string records_dir() const;

  // A copy of `record` (as the store holds it) as records/<file_name>; an
  // existing copy is replaced (the store's record may have gained a label).
  void add_record(const nlohmann::json& record, const std::string& file_name) const;
  // Every record of the study (ovseg::load_records on records/).
  std::vector<nlohmann::json> records() const;
  // One line, with the time, appended to commands.txt.
  void log_command(const std::string& command_line) const;

 private:
  std::string dir_;
};

// `table` as <stem>.md, <stem>.tex and <stem>.html (the report); returns the
// paths written. Throws naming the file it cannot write.
std::vector<std::string> write_table_formats(const ComparisonTable& table, const std::string& stem);

// Records from `--results` arguments: a folder (every record in it), a
// record file, or a glob pattern ("results/runs/naclip__*.json",
// "studies/*/records") matching either. Throws naming an argument that
// matches nothing.
std::vector<nlohmann::json> load_records_from(const std::vector<std::string>& sources);

}  // namespace ovseg
