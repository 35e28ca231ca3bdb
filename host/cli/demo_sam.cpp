// The demo's SAM part: the embedded world SAM on the demo's evaluation scenes
// (single-click mask IoU against a colour flood fill, and point -> mask
// examples for the report). Kept apart from cmd_demo.cpp, which only calls
// demo_sam_section().
#include <iomanip>
#include <iostream>
#include <sstream>

#include <c10/core/InferenceMode.h>

#include "commands.hpp"
#include "ovseg/host/device.hpp"
#include "ovseg/host/sam_render.hpp"
#include "ovseg/models/model_zoo.hpp"
#include "ovseg/train/sam_click_eval.hpp"
#include "ovseg/world/world.hpp"

namespace ovseg::cli {

namespace {

constexpr const char* kWorldSam = "ovseg:world-sam";
constexpr int kExamples = 3;

std::string pct(double v) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(1) << 100.0 * v;
  return os.str();
}

}  // namespace

std::string demo_sam_section(const std::string& world_root, const std::string& device) {
  std::shared_ptr<models::SamModel> model;
  try {
    model = models::SamModel::load(models::resolve_model_file(kWorldSam));
  } catch (const std::exception& e) {
    std::cout << "\nSAM: skipped (" << e.what() << ")\n";
    return "";
  }
  model->to(parse_device(device));
  c10::InferenceMode guard;
  const auto& classes = world::world_classes();
  const train::InstanceSet val = train::load_instance_folder(world_root, "val", 0, [&](int c) {
    return c >= 0 && c < static_cast<int>(classes.size()) && classes[static_cast<size_t>(c)].thing;
  });
  const train::ClickEvalResult r = train::evaluate_single_clicks(model, val);
  std::ostringstream table;
  table << "| method | mean IoU (%) |\n| :--- | ---: |\n"
        << "| world SAM, single-mask output | " << pct(r.single_iou) << " |\n"
        << "| world SAM, multimask: highest predicted IoU | " << pct(r.chosen_of_3_iou) << " |\n"
        << "| world SAM, multimask: best of 3 (oracle) | " << pct(r.best_of_3_iou) << " |\n"
        << "| colour flood fill (tolerance " << r.flood_tolerance << ", best on this set) | " << pct(r.flood_fill_iou)
        << " |\n";
  std::cout << "\nSAM: one click at the most interior pixel of each of the " << r.instances << " objects"
            << (val.derived_from_labels ? " (connected components of the thing classes)" : "") << ":\n"
            << table.str();

  // Point -> mask examples: the first objects of the first scenes.
  std::ostringstream html;
  html << "<section id='sam'><h2>Segment Anything: one click, one mask</h2>\n<p class='cap'>The embedded world SAM ("
       << model->geometry().describe()
       << ") answering a single foreground click (green) at the most interior pixel of an object; single-click "
          "mask IoU over the "
       << r.instances << " objects of these scenes:</p>\n<table><tr><th>method</th><th>mean IoU (%)</th></tr>"
       << "<tr><td>world SAM, single-mask output</td><td>" << pct(r.single_iou) << "</td></tr>"
       << "<tr><td>world SAM, multimask, highest predicted IoU</td><td>" << pct(r.chosen_of_3_iou) << "</td></tr>"
       << "<tr><td>world SAM, multimask, best of 3 (oracle)</td><td>" << pct(r.best_of_3_iou) << "</td></tr>"
       << "<tr><td>colour flood fill from the click (tolerance " << r.flood_tolerance << ")</td><td>"
       << pct(r.flood_fill_iou)
       << "</td></tr></table>\n<p class='cap'>Click examples: the first object of each of the first scenes (green: the "
          "click).</p><p>";
  int shown = 0;
  for (int64_t i = 0; i < val.images.size(0) && shown < kExamples; ++i) {
    const auto ids = train::instance_ids(val.instances[i], 64);
    if (ids.empty()) continue;
    const auto [x, y] = train::interior_point(val.instances[i] == ids[0]);
    const at::Tensor image = val.images[i].permute({2, 0, 1}).unsqueeze(0).to(at::kFloat) / 255.0;
    double iou = 0;
    html << "<img alt=\"click at " << x << "," << y << "\" src=\"data:image/png;base64,"
         << sam_click_example_base64(model, image, static_cast<double>(x), static_cast<double>(y), 192, &iou) << "\"> ";
    ++shown;
  }
  html << "</p></section>\n";
  return html.str();
}

}  // namespace ovseg::cli
