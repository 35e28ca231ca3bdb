// Synonym queries: Logits whose class_names repeat a name hold several
// queries of one class (e.g. VOC21's background as 26 words: sky, wall, tree,
// ...). This is how SCLIP, ClearCLIP and NACLIP score synonyms (their
// query_idx): every query gets its own logit, the softmax runs over all
// queries, and a class's probability is the max over its queries. Consumers
// of logits (argmax, the harness's background handling) map queries to
// classes with these helpers; classes keep their first appearance's order.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "ovseg/sdk/stage.hpp"

namespace ovseg {

struct SynonymGroups {
  std::vector<std::string> classes;     // distinct names, in first-appearance order
  std::vector<int64_t> class_of_query;  // query index -> index into `classes`
  bool any() const { return classes.size() < class_of_query.size(); }
  // Whether scores with `channels` channels are these queries, to be merged.
  bool merges(int64_t channels) const { return any() && static_cast<int64_t>(class_of_query.size()) == channels; }
};

SynonymGroups synonym_groups(const std::vector<std::string>& query_names);

// Max over each class's queries along `dim`: (.., Q, ..) -> (.., K, ..).
at::Tensor max_over_synonyms(const at::Tensor& scores, const SynonymGroups& groups, int64_t dim);

// Per-pixel best class of logits (B,K,H,W) named by `names`: the argmax,
// and with synonym queries the class of the best query (the max over queries
// keeps the argmax's class). Labels are named by the distinct classes.
LabelMap argmax_labels(const at::Tensor& logits, const std::vector<std::string>& names);

}  // namespace ovseg
