// The generic training loop: schedule, loss falls, checkpoints resume exactly.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <filesystem>

#include "../eval/eval_test_util.hpp"
#include "ovseg/train/trainer.hpp"

using namespace ovseg;
using eval_test::TempDir;

namespace {

// Least squares y = x w + b on fixed data; the batch of step i is a function
// of i only, as the trainer requires.
class LinearTask final : public train::TrainTask {
 public:
  LinearTask() {
    at::manual_seed(3);
    x_ = at::randn({256, 8});
    y_ = at::matmul(x_, at::randn({8, 1})) + 0.5;
    w_ = at::zeros({8, 1});
    b_ = at::zeros({1});
  }
  std::vector<std::pair<std::string, at::Tensor>> parameters() override { return {{"lin.w", w_}, {"lin.b", b_}}; }
  at::Tensor loss(int64_t step) override {
    const auto rows = x_.slice(0, (step * 32) % 256, (step * 32) % 256 + 32);
    const auto target = y_.slice(0, (step * 32) % 256, (step * 32) % 256 + 32);
    return (at::matmul(rows, w_) + b_ - target).pow(2).mean();
  }
  at::Tensor w_, b_;

 private:
  at::Tensor x_, y_;
};

train::TrainOptions options(int64_t steps) {
  train::TrainOptions o;
  o.steps = steps;
  o.lr = 0.05;
  o.weight_decay = 0.01;
  o.warmup_fraction = 0.1;
  return o;
}

}  // namespace

TEST_CASE("schedule: linear warm-up, then cosine to the floor") {
  train::TrainOptions o = options(100);
  o.final_lr_fraction = 0.1;
  CHECK(train::scheduled_lr(o, 0) == doctest::Approx(0.005));
  CHECK(train::scheduled_lr(o, 9) == doctest::Approx(0.05));
  CHECK(train::scheduled_lr(o, 10) == doctest::Approx(0.05));
  CHECK(train::scheduled_lr(o, 55) == doctest::Approx(0.005 + 0.045 * 0.5));
  CHECK(train::scheduled_lr(o, 100) == doctest::Approx(0.005));
}

TEST_CASE("AdamW on a least-squares task: the loss falls by orders of magnitude") {
  LinearTask task;
  const train::TrainResult r = train::train(task, options(300));
  REQUIRE(r.losses.size() == 300);
  CHECK(r.recent_loss(10) < r.first_loss() * 1e-2);
  CHECK_FALSE(task.w_.requires_grad());  // handed back as plain tensors
}

TEST_CASE("an interrupted run resumes from its checkpoint to the same weights") {
  TempDir tmp;
  LinearTask straight;
  train::train(straight, options(40));

  train::TrainOptions o = options(40);
  o.checkpoint_dir = tmp.file("ck");
  o.checkpoint_every = 15;
  {
    // Stop after step 29 as a crash would: the last checkpoint is at 30.
    struct Crash {};
    class Crashing final : public train::TrainTask {
     public:
      explicit Crashing(LinearTask& t) : t_(t) {}
      std::vector<std::pair<std::string, at::Tensor>> parameters() override { return t_.parameters(); }
      at::Tensor loss(int64_t step) override {
        if (step == 33) throw Crash{};
        return t_.loss(step);
      }
      LinearTask& t_;
    };
    LinearTask first;
    Crashing crashing(first);
    CHECK_THROWS_AS(train::train(crashing, o), Crash);
  }
  CHECK(std::filesystem::exists(tmp.file("ck/trainer_state.pt")));
  CHECK_FALSE(std::filesystem::exists(tmp.file("ck/trainer_state.pt.tmp")));
  LinearTask resumed;
  const train::TrainResult r = train::train(resumed, o);
  CHECK(r.start_step == 30);
  CHECK(r.losses.size() == 10);
  CHECK(at::equal(resumed.w_, straight.w_));
  CHECK(at::equal(resumed.b_, straight.b_));

  // A checkpoint of a run with another length is refused, not silently mixed
  // (the steps are part of every checkpoint's fingerprint), naming both values.
  train::TrainOptions other = o;
  other.steps = 50;
  LinearTask again;
  CHECK_THROWS_WITH_AS(train::train(again, other),
                       doctest::Contains("trainer.steps: checkpoint has 40, this run has 50"), std::runtime_error);
}
