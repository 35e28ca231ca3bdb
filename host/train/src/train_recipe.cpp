#include "ovseg/train/train_recipe.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "ovseg/sdk/diagnostics.hpp"

namespace ovseg::train {

namespace {

const std::vector<std::string> kAugmentKeys = {"crop",          "short_side", "max_long_side", "ratio_range",
                                               "cat_max_ratio", "flip",       "photometric",   "flip_swap"};
const std::vector<std::string> kGroupKeys = {"match", "lr_mult", "weight_decay"};

std::string where_key(const std::string& key) { return "train." + key; }

double number(const std::string& key, const SpecValue& v, double lo, double hi) {
  double x = 0;
  if (const auto* i = std::get_if<int64_t>(&v.value))
    x = static_cast<double>(*i);
  else if (const auto* d = std::get_if<double>(&v.value))
    x = *d;
  else
    throw Error(v.where, "", where_key(key) + " must be a number, got " + format_param_value(v.value),
                "write e.g. " + key + " = 0.1");
  if (!(x >= lo && x <= hi))
    throw Error(v.where, "",
                where_key(key) + " = " + format_param_value(v.value) + " is outside [" + format_param_value(lo) + ", " +
                    (std::isinf(hi) ? "inf" : format_param_value(hi)) + "]");
  return x;
}

int64_t integer(const std::string& key, const SpecValue& v, int64_t lo) {
  const auto* i = std::get_if<int64_t>(&v.value);
  if (i == nullptr)
    throw Error(v.where, "", where_key(key) + " must be an integer, got " + format_param_value(v.value),
                "write e.g. " + key + " = 100");
  if (*i < lo)
    throw Error(v.where, "", where_key(key) + " = " + std::to_string(*i) + " must be at least " + std::to_string(lo));
  return *i;
}

bool boolean(const std::string& key, const SpecValue& v) {
  const auto* b = std::get_if<bool>(&v.value);
  if (b == nullptr) throw Error(v.where, "", where_key(key) + " must be true or false");
  return *b;
}

std::string string(const std::string& key, const SpecValue& v, const std::vector<std::string>& choices = {}) {
  const auto* s = std::get_if<std::string>(&v.value);
  if (s == nullptr) throw Error(v.where, "", where_key(key) + " must be a string", "quote it");
  if (!choices.empty() && std::find(choices.begin(), choices.end(), *s) == choices.end()) {
    std::string list;
    for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
    throw Error(v.where, "", where_key(key) + " is \"" + *s + "\"" + did_you_mean(*s, choices), "pick one of: " + list);
  }
  return *s;
}

std::vector<double> numbers(const std::string& key, const SpecValue& v, size_t n) {
  std::vector<double> out;
  if (const auto* is = std::get_if<std::vector<int64_t>>(&v.value))
    out.assign(is->begin(), is->end());
  else if (const auto* ds = std::get_if<std::vector<double>>(&v.value))
    out = *ds;
  if (out.size() != n)
    throw Error(v.where, "", where_key(key) + " must be a list of " + std::to_string(n) + " numbers");
  return out;
}

}  // namespace

const std::vector<std::string>& train_recipe_keys() {
  static const std::vector<std::string> keys = {"steps",
                                                "batch",
                                                "accumulate",
                                                "lr",
                                                "weight_decay",
                                                "betas",
                                                "eps",
                                                "schedule",
                                                "warmup_steps",
                                                "final_lr_fraction",
                                                "poly_power",
                                                "grad_clip",
                                                "seed",
                                                "split",
                                                "val_split",
                                                "val_images",
                                                "eval_every",
                                                "checkpoint_every",
                                                "unseen_classes",
                                                "cache_mb",
                                                "losses",
                                                "augment",
                                                "param_groups"};
  return keys;
}

TrainRecipe parse_train_recipe(const PipelineSpec& spec) {
  TrainRecipe r;
  bool losses_given = false;
  std::map<size_t, std::map<std::string, const SpecValue*>> groups;
  for (const auto& [key, v] : spec.train) {
    const auto dot = key.find('.');
    const std::string head = key.substr(0, dot), rest = dot == std::string::npos ? "" : key.substr(dot + 1);
    if (head == "losses" && !rest.empty()) {
      if (!losses_given) r.losses.clear();
      losses_given = true;
      r.losses[rest] = number(key, v, 0, INFINITY);
    } else if (head == "augment" && !rest.empty()) {
      AugmentOptions& a = r.augment;
      if (rest == "crop")
        a.crop = static_cast<int>(integer(key, v, 1));
      else if (rest == "short_side")
        a.short_side = static_cast<int>(integer(key, v, 0));
      else if (rest == "max_long_side")
        a.max_long_side = static_cast<int>(integer(key, v, 1));
      else if (rest == "ratio_range") {
        const auto x = numbers(key, v, 2);
        if (!(x[0] > 0 && x[0] <= x[1]))
          throw Error(v.where, "", where_key(key) + " must be [lo, hi] with 0 < lo <= hi");
        a.ratio_min = x[0];
        a.ratio_max = x[1];
      } else if (rest == "cat_max_ratio")
        a.cat_max_ratio = number(key, v, 0, 1);
      else if (rest == "flip")
        a.flip = boolean(key, v);
      else if (rest == "photometric")
        a.photometric = boolean(key, v);
      else if (rest == "flip_swap") {
        std::vector<int64_t> ids;
        if (const auto* is = std::get_if<std::vector<int64_t>>(&v.value))
          ids = *is;
        else if (!v.empty_list)
          throw Error(v.where, "", where_key(key) + " must be a list of class-id pairs, flat",
                      "write e.g. flip_swap = [14, 15, 16, 17, 18, 19] (or [] for none)");
        if (ids.size() % 2 != 0)
          throw Error(v.where, "", where_key(key) + " has an odd number of class ids: pairs are (a, b), flat");
        std::vector<std::pair<int, int>> pairs;
        for (size_t i = 0; i < ids.size(); i += 2)
          pairs.push_back({static_cast<int>(ids[i]), static_cast<int>(ids[i + 1])});
        a.flip_swap = pairs;
      } else
        throw Error(v.where, "", "unknown key '" + key + "' in [train.augment]" + did_you_mean(rest, kAugmentKeys),
                    "keys: crop, short_side, max_long_side, ratio_range, cat_max_ratio, flip, photometric, flip_swap");
    } else if (head == "param_groups" && !rest.empty()) {
      const auto dot2 = rest.find('.');
      size_t index = 0;
      try {
        index = std::stoul(rest.substr(0, dot2));
      } catch (const std::exception&) {
        throw Error(v.where, "", "write parameter groups as [[train.param_groups]] tables");
      }
      const std::string field = dot2 == std::string::npos ? "" : rest.substr(dot2 + 1);
      if (std::find(kGroupKeys.begin(), kGroupKeys.end(), field) == kGroupKeys.end())
        throw Error(v.where, "",
                    "unknown key '" + field + "' in [[train.param_groups]]" + did_you_mean(field, kGroupKeys),
                    "keys: match, lr_mult, weight_decay");
      groups[index][field] = &v;
    } else if (key == "steps")
      r.steps = integer(key, v, 1);
    else if (key == "batch")
      r.batch = integer(key, v, 1);
    else if (key == "accumulate")
      r.accumulate = integer(key, v, 1);
    else if (key == "lr")
      r.lr = number(key, v, 0, INFINITY);
    else if (key == "weight_decay")
      r.weight_decay = number(key, v, 0, INFINITY);
    else if (key == "betas") {
      const auto b = numbers(key, v, 2);
      if (!(b[0] >= 0 && b[0] < 1 && b[1] >= 0 && b[1] < 1)) throw Error(v.where, "", "train.betas must be in [0, 1)");
      r.beta1 = b[0];
      r.beta2 = b[1];
    } else if (key == "eps")
      r.eps = number(key, v, 0, 1);
    else if (key == "schedule")
      r.schedule = string(key, v, {"cosine", "poly", "constant"});
    else if (key == "warmup_steps")
      r.warmup_steps = integer(key, v, 0);
    else if (key == "final_lr_fraction")
      r.final_lr_fraction = number(key, v, 0, 1);
    else if (key == "poly_power")
      r.poly_power = number(key, v, 0, INFINITY);
    else if (key == "grad_clip")
      r.grad_clip = number(key, v, 0, INFINITY);
    else if (key == "seed")
      r.seed = static_cast<uint64_t>(integer(key, v, 0));
    else if (key == "split")
      r.split = string(key, v);
    else if (key == "val_split")
      r.val_split = string(key, v);
    else if (key == "val_images")
      r.val_images = integer(key, v, 0);
    else if (key == "eval_every")
      r.eval_every = integer(key, v, 0);
    else if (key == "checkpoint_every")
      r.checkpoint_every = integer(key, v, 1);
    else if (key == "cache_mb")
      r.cache_mb = integer(key, v, 0);
    else if (key == "unseen_classes") {
      if (v.empty_list)
        r.unseen_classes = std::vector<std::string>{};
      else if (const auto* xs = std::get_if<std::vector<std::string>>(&v.value))
        r.unseen_classes = *xs;
      else
        throw Error(v.where, "", "train.unseen_classes must be a list of class names ([] = no zero-shot split)");
    } else {
      throw Error(v.where, "", "unknown key '" + key + "' in [train]" + did_you_mean(head, train_recipe_keys()),
                  "see the [train] keys in host/train/include/ovseg/train/train_recipe.hpp");
    }
  }
  for (const auto& [index, fields] : groups) {
    ParamGroupRule g;
    auto match = fields.find("match");
    if (match == fields.end())
      throw Error(fields.begin()->second->where, "",
                  "[[train.param_groups]] entry " + std::to_string(index + 1) + " has no match = \"node.pattern\"");
    g.pattern = string("param_groups.match", *match->second);
    if (auto it = fields.find("lr_mult"); it != fields.end())
      g.lr_mult = number("param_groups.lr_mult", *it->second, 0, INFINITY);
    if (auto it = fields.find("weight_decay"); it != fields.end())
      g.weight_decay = number("param_groups.weight_decay", *it->second, 0, INFINITY);
    r.groups.push_back(g);
  }
  if (r.batch % r.accumulate != 0)
    throw Error(spec.train.count("accumulate") ? spec.train.at("accumulate").where : SourceLocation{spec.file, 0, 0},
                "",
                "train.batch (" + std::to_string(r.batch) + ") is not a multiple of train.accumulate (" +
                    std::to_string(r.accumulate) + ")",
                "each micro-batch has batch / accumulate images");
  if (r.losses.empty())
    throw Error({spec.file, 0, 0}, "", "[train.losses] gives no loss", "e.g. [train.losses] ce = 1.0");
  return r;
}

std::string TrainRecipe::fingerprint() const {
  std::ostringstream os;
  os.precision(17);
  os << "steps=" << steps << "\nbatch=" << batch << "\naccumulate=" << accumulate << "\nlr=" << lr
     << "\nweight_decay=" << weight_decay << "\nbetas=" << beta1 << "," << beta2 << "\neps=" << eps
     << "\nschedule=" << schedule << "\nwarmup_steps=" << warmup_steps << "\nfinal_lr_fraction=" << final_lr_fraction
     << "\npoly_power=" << poly_power << "\ngrad_clip=" << grad_clip << "\nseed=" << seed << "\nsplit=" << split
     << "\nunseen_classes=";
  if (unseen_classes)
    for (const auto& c : *unseen_classes) os << c << ";";
  else
    os << "(data set's)";
  for (const auto& [k, w] : losses) os << "\nloss." << k << "=" << w;
  const AugmentOptions& a = augment;
  os << "\naugment=crop " << a.crop << " short " << a.short_side << " long " << a.max_long_side << " ratio "
     << a.ratio_min << "-" << a.ratio_max << " cat " << a.cat_max_ratio << " flip " << a.flip << " photo "
     << a.photometric;
  if (a.flip_swap && !a.flip_swap->empty()) {  // only then, so older runs' fingerprints stay
    os << " flip_swap";
    for (const auto& [x, y] : *a.flip_swap) os << " " << x << "-" << y;
  }
  for (const auto& g : groups)
    os << "\ngroup=" << g.pattern << " lr_mult " << g.lr_mult << " wd "
       << (g.weight_decay ? std::to_string(*g.weight_decay) : std::string("default"));
  return os.str();
}

}  // namespace ovseg::train
