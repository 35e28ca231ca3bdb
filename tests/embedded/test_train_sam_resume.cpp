// `ovseg train-sam` resume check: a leftover checkpoint of other settings is
// refused (before, train-sam had no fingerprint at all and resumed it under
// the new --lr / --seed), --force starts over.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include "../eval/eval_test_util.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/world/world.hpp"

using namespace ovseg;
using eval_test::TempDir;

TEST_CASE("train-sam: a checkpoint of other settings is refused, listing what differs; --force starts over") {
  TempDir tmp;
  world::SceneOptions so;
  so.width = so.height = 128;  // the world SAM's input size
  world::write_world_split(tmp.file("w"), "train", 3, 4, so);
  const std::string base = "train-sam --data '" + tmp.file("w") +
                           "' --eval-split none --steps 2 --batch 2 --points 1 "
                           "--quiet --checkpoint-every 1 --checkpoint-dir '" +
                           tmp.file("ck") + "'";
  auto r = eval_test::run_cli(base + " --out '" + tmp.file("a.safetensors") + "' --lr 1e-3");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  r = eval_test::run_cli(base + " --out '" + tmp.file("b.safetensors") + "' --lr 2e-3 --seed 3");
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("checkpoint of another run") != std::string::npos);
  CHECK(r.output.find("trainer.lr: checkpoint has 0.001") != std::string::npos);
  CHECK(r.output.find("trainer.seed: checkpoint has 0, this run has 3") != std::string::npos);
  CHECK(r.output.find("--force") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(tmp.file("b.safetensors")));
  // --force: trained from scratch, the same weights as without a checkpoint folder.
  r = eval_test::run_cli(base + " --out '" + tmp.file("b.safetensors") + "' --lr 2e-3 --seed 3 --force");
  REQUIRE(r.exit_code == 0);
  r = eval_test::run_cli("train-sam --data '" + tmp.file("w") +
                         "' --eval-split none --steps 2 --batch 2 --points 1 "
                         "--quiet --out '" +
                         tmp.file("c.safetensors") + "' --lr 2e-3 --seed 3");
  REQUIRE(r.exit_code == 0);
  const auto b = models::load_safetensors(tmp.file("b.safetensors")),
             c = models::load_safetensors(tmp.file("c.safetensors"));
  REQUIRE(b.size() == c.size());
  for (const auto& [k, v] : b) CHECK_MESSAGE(at::equal(v, c.at(k)), k);
}
