// The [train] table: defaults, every key, errors with file:line and the
// nearest key, --set overrides; and the trainer's schedules and groups.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include "ovseg/host/pipeline_spec.hpp"
#include "ovseg/sdk/diagnostics.hpp"
#include "ovseg/train/train_recipe.hpp"
#include "ovseg/train/trainer.hpp"

using namespace ovseg;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const char* kNodes = R"(
[nodes.a]
plugin = "pixel_features"
)";

train::TrainRecipe recipe(const std::string& train_toml, const std::vector<std::string>& sets = {}) {
  std::vector<Override> ov;
  for (const auto& s : sets) ov.push_back(parse_override(s));
  return train::parse_train_recipe(parse_pipeline_spec(std::string(kNodes) + train_toml, "p.toml", ov));
}

Error recipe_error(const std::string& train_toml, const std::vector<std::string>& sets = {}) {
  try {
    recipe(train_toml, sets);
  } catch (const Error& e) {
    return e;
  }
  FAIL("expected an ovseg::Error");
  return Error({}, "", "");
}

}  // namespace

TEST_CASE("recipe: defaults without a [train] table") {
  const auto r = recipe("");
  CHECK(r.steps == 1000);
  CHECK(r.batch == 8);
  CHECK(r.losses == std::map<std::string, double>{{"ce", 1.0}});
  CHECK(r.augment.crop == 512);
  CHECK(r.schedule == "cosine");
  CHECK_FALSE(r.unseen_classes.has_value());
}

TEST_CASE("recipe: every key, sub-tables and parameter groups") {
  const auto r = recipe(R"(
[train]
steps = 50
batch = 4
accumulate = 2
lr = 2e-4
weight_decay = 1e-4
betas = [0.9, 0.99]
eps = 1e-6
schedule = "poly"
warmup_steps = 5
final_lr_fraction = 0.1
poly_power = 1.0
grad_clip = 0.01
seed = 7
split = "train"
val_split = "val"
val_images = 3
eval_every = 10
checkpoint_every = 5
unseen_classes = ["cow", "sheep"]
cache_mb = 10
[train.losses]
bce = 1.0
dice = 0.5
[train.augment]
crop = 96
short_side = 128
max_long_side = 512
ratio_range = [0.75, 1.5]
cat_max_ratio = 1.0
flip = false
photometric = false
[[train.param_groups]]
match = "clip.*"
lr_mult = 0.01
[[train.param_groups]]
match = "*.bias"
weight_decay = 0.0
)");
  CHECK(r.steps == 50);
  CHECK(r.accumulate == 2);
  CHECK(r.beta2 == doctest::Approx(0.99));
  CHECK(r.schedule == "poly");
  CHECK(r.grad_clip == doctest::Approx(0.01));
  CHECK(r.seed == 7);
  CHECK(*r.unseen_classes == std::vector<std::string>{"cow", "sheep"});
  CHECK(r.losses == std::map<std::string, double>{{"bce", 1.0}, {"dice", 0.5}});
  CHECK(r.augment.crop == 96);
  CHECK(r.augment.ratio_min == doctest::Approx(0.75));
  CHECK_FALSE(r.augment.flip);
  REQUIRE(r.groups.size() == 2);
  CHECK(r.groups[0].pattern == "clip.*");
  CHECK(r.groups[0].lr_mult == doctest::Approx(0.01));
  CHECK_FALSE(r.groups[0].weight_decay.has_value());
  CHECK(*r.groups[1].weight_decay == 0.0);
  // [] means "no zero-shot split", not "the data set's".
  CHECK(recipe("[train]\nunseen_classes = []\n").unseen_classes->empty());
}

TEST_CASE("recipe: --set train.* overrides and creates keys and sub-tables") {
  const auto r = recipe("[train]\nsteps = 50\n", {"train.steps=7", "train.losses.focal=2", "train.augment.crop=32"});
  CHECK(r.steps == 7);
  CHECK(r.losses == std::map<std::string, double>{{"focal", 2.0}});
  CHECK(r.augment.crop == 32);
  CHECK(recipe("", {"train.lr=0.5"}).lr == doctest::Approx(0.5));
}

TEST_CASE("recipe: errors name the line, the key and the nearest key") {
  Error e = recipe_error("[train]\nstesp = 5\n");
  CHECK(e.where().line == 5);
  CHECK(contains(e.what(), "unknown key 'stesp' in [train]"));
  CHECK(contains(e.what(), "steps"));
  e = recipe_error("[train]\nlr = \"fast\"\n");
  CHECK(contains(e.what(), "train.lr must be a number"));
  e = recipe_error("[train]\nschedule = \"cosin\"\n");
  CHECK(contains(e.what(), "cosine"));
  e = recipe_error("[train.augment]\ncorp = 3\n");
  CHECK(contains(e.what(), "[train.augment]"));
  CHECK(contains(e.what(), "crop"));
  e = recipe_error("[train]\nbatch = 6\naccumulate = 4\n");
  CHECK(contains(e.what(), "not a multiple of train.accumulate"));
  e = recipe_error("[[train.param_groups]]\nlr_mult = 0.1\n");
  CHECK(contains(e.what(), "has no match"));
  e = recipe_error("", {"train.steps=0"});
  CHECK(contains(e.where().file, "--set train.steps=0"));
  CHECK(contains(e.what(), "at least 1"));
}

TEST_CASE("recipe: the fingerprint changes with what changes the weights, not with evaluation settings") {
  const auto base = recipe("").fingerprint();
  CHECK(recipe("[train]\nlr = 0.5\n").fingerprint() != base);
  CHECK(recipe("[train.augment]\ncrop = 64\n").fingerprint() != base);
  CHECK(recipe("[train]\nunseen_classes = [\"a\"]\n").fingerprint() != base);
  CHECK(recipe("[train]\neval_every = 3\nval_images = 9\ncheckpoint_every = 2\n").fingerprint() == base);
}

TEST_CASE("recipe: flip_swap pairs (absent = derived from class names, [] = none)") {
  CHECK_FALSE(recipe("").augment.flip_swap.has_value());
  const auto r = recipe("[train.augment]\nflip_swap = [14, 15, 16, 17]\n");
  REQUIRE(r.augment.flip_swap.has_value());
  CHECK(*r.augment.flip_swap == std::vector<std::pair<int, int>>{{14, 15}, {16, 17}});
  CHECK(r.fingerprint() != recipe("").fingerprint());
  const auto none = recipe("[train.augment]\nflip_swap = []\n");
  REQUIRE(none.augment.flip_swap.has_value());
  CHECK(none.augment.flip_swap->empty());
  CHECK(none.fingerprint() == recipe("").fingerprint());
  CHECK(contains(recipe_error("[train.augment]\nflip_swap = [14, 15, 16]\n").what(), "odd number"));
}

TEST_CASE("schedules: poly and constant after the warm-up") {
  train::TrainOptions o;
  o.steps = 110;
  o.lr = 1.0;
  o.warmup_steps = 10;
  o.schedule = "poly";
  o.poly_power = 1.0;
  CHECK(train::scheduled_lr(o, 4) == doctest::Approx(0.5));
  CHECK(train::scheduled_lr(o, 10) == doctest::Approx(1.0));
  CHECK(train::scheduled_lr(o, 60) == doctest::Approx(0.5));
  o.schedule = "constant";
  CHECK(train::scheduled_lr(o, 100) == doctest::Approx(1.0));
}

namespace {

// Two parameters with separate quadratic losses: their AdamW updates reveal
// each group's learning rate.
class TwoParams final : public train::TrainTask {
 public:
  at::Tensor a = at::zeros({2, 2}), b = at::zeros({2, 2});
  train::NamedTensors parameters() override { return {{"head.w", a}, {"clip.w", b}}; }
  at::Tensor loss(int64_t) override { return (a - 1).pow(2).sum() + (b - 1).pow(2).sum(); }
};

}  // namespace

TEST_CASE("parameter groups: lr multipliers by pattern; an unmatched pattern is an error") {
  TwoParams task;
  train::TrainOptions o;
  o.steps = 1;
  o.lr = 0.1;
  o.weight_decay = 0;
  o.warmup_steps = 0;
  o.schedule = "constant";
  o.groups = {{"clip.*", 0.01, std::nullopt}};
  train::train(task, o);
  // Adam's first step moves every element by lr (the gradient's sign).
  CHECK(task.a[0][0].item<double>() == doctest::Approx(0.1));
  CHECK(task.b[0][0].item<double>() == doctest::Approx(0.001));
  TwoParams other;
  o.groups = {{"text.*", 2.0, std::nullopt}};
  CHECK_THROWS_WITH(train::train(other, o), doctest::Contains("'text.*' matches no trainable parameter"));
}

TEST_CASE("accumulate: a task without micro-batches says so") {
  TwoParams task;
  train::TrainOptions o;
  o.steps = 1;
  o.accumulate = 2;
  CHECK_THROWS_WITH(train::train(task, o), doctest::Contains("accumulate must be 1"));
}
