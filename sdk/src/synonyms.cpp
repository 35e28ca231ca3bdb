#include "ovseg/sdk/synonyms.hpp"

#include <map>
#include <stdexcept>

namespace ovseg {

SynonymGroups synonym_groups(const std::vector<std::string>& query_names) {
  SynonymGroups g;
  std::map<std::string, int64_t> index;
  for (const auto& name : query_names) {
    auto [it, fresh] = index.emplace(name, static_cast<int64_t>(g.classes.size()));
    if (fresh) g.classes.push_back(name);
    g.class_of_query.push_back(it->second);
  }
  return g;
}

at::Tensor max_over_synonyms(const at::Tensor& scores, const SynonymGroups& groups, int64_t dim) {
  if (scores.size(dim) != static_cast<int64_t>(groups.class_of_query.size()))
    throw std::invalid_argument("max_over_synonyms: " + std::to_string(scores.size(dim)) + " scores for " +
                                std::to_string(groups.class_of_query.size()) + " named queries");
  std::vector<std::vector<int64_t>> members(groups.classes.size());
  for (size_t q = 0; q < groups.class_of_query.size(); ++q)
    members[groups.class_of_query[q]].push_back(static_cast<int64_t>(q));
  std::vector<at::Tensor> per_class;
  per_class.reserve(members.size());
  for (const auto& m : members) {
    // Synonyms from a names file are adjacent: a view, no gather; a lone
    // query is its own class's score.
    const bool adjacent = m.back() - m.front() + 1 == static_cast<int64_t>(m.size());
    at::Tensor mine = adjacent
                          ? scores.narrow(dim, m.front(), static_cast<int64_t>(m.size()))
                          : scores.index_select(dim,
                                                at::tensor(m, at::TensorOptions(at::kLong).device(scores.device())));
    per_class.push_back(m.size() == 1 ? mine : mine.amax(dim, /*keepdim=*/true));
  }
  return at::cat(per_class, dim);
}

LabelMap argmax_labels(const at::Tensor& logits, const std::vector<std::string>& names) {
  at::Tensor best = logits.argmax(1);
  const SynonymGroups groups = synonym_groups(names);
  if (!groups.merges(logits.size(1))) return {best, names};
  at::Tensor class_of = at::tensor(groups.class_of_query, at::TensorOptions(at::kLong).device(best.device()));
  return {class_of.index_select(0, best.flatten()).view(best.sizes()), groups.classes};
}

}  // namespace ovseg
