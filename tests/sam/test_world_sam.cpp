// The shipped world SAM (host/models/embedded/world-sam.safetensors): its
// layout and size, and its quality bar on world scenes it never saw (the
// demo's evaluation seed): one click per object must beat a colour flood fill
// from the same click by a wide margin.
#include <filesystem>

#include "../models/models_test_util.hpp"
#include "ovseg/models/model_zoo.hpp"
#include "ovseg/models/random_sam.hpp"
#include "ovseg/train/sam_click_eval.hpp"
#include "ovseg/world/world.hpp"

using namespace ovseg;

TEST_CASE("the embedded world SAM: official layout, under 8 MB, fp16") {
  const std::string path = models::resolve_model_file("ovseg:world-sam");
  CHECK(std::filesystem::file_size(path) <= 8'000'000u);
  const auto model = models::SamModel::load(path);
  CHECK(model->geometry().describe() == models::sam_geometry_preset("world").describe());
}

TEST_CASE("the embedded world SAM beats a colour flood fill from the same click on unseen world scenes") {
  ovseg_test::TempDir dir;
  world::SceneOptions o;
  o.width = o.height = 128;
  world::write_world_split(dir.file("w"), "val", 30, 2026, o);  // the demo's evaluation seed
  const auto& classes = world::world_classes();
  const train::InstanceSet val = train::load_instance_folder(dir.file("w"), "val", 0, [&](int c) {
    return c >= 0 && c < static_cast<int>(classes.size()) && classes[static_cast<size_t>(c)].thing;
  });
  const auto model = models::SamModel::load(models::resolve_model_file("ovseg:world-sam"));
  const train::ClickEvalResult r = train::evaluate_single_clicks(model, val);
  MESSAGE(r.instances << " objects: SAM single " << r.single_iou << ", chosen of 3 " << r.chosen_of_3_iou
                      << ", best of 3 " << r.best_of_3_iou << ", flood fill " << r.flood_fill_iou);
  CHECK(r.instances > 50);
  CHECK(r.single_iou > 0.6);
  CHECK(r.single_iou > r.flood_fill_iou + 0.15);
  CHECK(r.best_of_3_iou >= r.chosen_of_3_iou);
}
