// Benchmarks as papers print them: the short column names of the
// open-vocabulary segmentation literature (SCLIP / ClearCLIP / NACLIP's
// Table 1: VOC21, PC60, Object, VOC20, PC59, Stuff, City, ADE) and their
// order. Besides the harness's data sets it knows three benchmarks that
// published tables report but no harness data set implements (A-847,
// PC-459, VOC20b), so published rows can carry them.
#pragma once

#include <string>
#include <vector>

namespace ovseg {

// "voc21" -> "VOC21", "context60" -> "PC60", "coco_object" -> "Object",
// "folder" -> "world", "pascal_person_part" -> "PPP"; unknown names are
// returned as they are.
std::string dataset_short_name(const std::string& dataset);

// The canonical data set for a short name, a harness name or alias, or an
// extra benchmark: "PC60", "pc60", "context60" -> "context60"; "A-847" ->
// "ade847". Throws std::invalid_argument naming the known names.
std::string dataset_from_column_name(const std::string& name);

// The extra benchmarks (not harness data sets): ade847, context459, voc20b.
const std::vector<std::string>& extra_benchmarks();

// Column position: the paper order above, then A-847, PC-459, VOC20b, the
// human-parsing sets (LIP, CIHP, PPP), the world; anything else last.
int dataset_column_rank(const std::string& dataset);

}  // namespace ovseg
