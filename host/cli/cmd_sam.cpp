// `ovseg sam --model M --image IMG (--point x,y[,label])... [--box x0,y0,x1,y1] --out DIR`:
// segment_anything's SamPredictor on one image with one prompt (all points
// and the box together); `--auto` runs SamAutomaticMaskGenerator instead.
// Writes each mask as a PNG, an overlay with the prompts, and the scores.
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "ovseg/host/device.hpp"
#include "ovseg/host/image_io.hpp"
#include "ovseg/host/sam_render.hpp"
#include "ovseg/models/model_zoo.hpp"
#include "ovseg/models/sam_auto_masks.hpp"

namespace fs = std::filesystem;

namespace ovseg::cli {

namespace {

const std::string kCmd = "sam";
// Overlays of small images are enlarged (nearest) to at least this side.
constexpr int kOverlayMinSide = 256;

// "x,y" / "x,y,label" / "x0,y0,x1,y1" -> numbers, or a UsageError naming the option.
std::vector<double> parse_numbers(const std::string& option, const std::string& text, size_t min, size_t max) {
  std::vector<double> v;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    double x = 0;
    try {
      x = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || !std::isfinite(x))
      throw UsageError("ovseg sam: " + option + " '" + text + "': '" + item + "' is not a number");
    v.push_back(x);
  }
  if (v.size() < min || v.size() > max)
    throw UsageError("ovseg sam: " + option + " '" + text + "' needs " +
                     (min == max ? std::to_string(min) : std::to_string(min) + " or " + std::to_string(max)) +
                     " comma-separated numbers");
  return v;
}

void write_json(const fs::path& path, const nlohmann::json& j) {
  std::ofstream out(path);
  if (!(out << std::setw(2) << j << "\n")) throw std::runtime_error("cannot write " + path.string());
}

std::string numbered(const char* stem, size_t i, int width) {
  std::ostringstream os;
  os << stem << std::setw(width) << std::setfill('0') << i << ".png";
  return os.str();
}

// One prompt as SamPredictor.predict takes it, parsed before any model loads.
struct PromptArgs {
  std::vector<double> xy;
  std::vector<int64_t> labels;
  at::Tensor points, point_labels, box;
  bool multimask = false;
};

PromptArgs parse_prompt(const ParsedArgs& args) {
  PromptArgs p;
  for (const auto& text : args.all("--point")) {
    const auto v = parse_numbers("--point", text, 2, 3);
    if (v.size() == 3 && v[2] != 0 && v[2] != 1)
      throw UsageError("ovseg sam: --point '" + text + "': the label must be 1 (foreground) or 0 (background)");
    p.xy.insert(p.xy.end(), {v[0], v[1]});
    p.labels.push_back(v.size() == 3 ? static_cast<int64_t>(v[2]) : 1);
  }
  if (!p.xy.empty()) {
    p.points = at::tensor(p.xy, at::kDouble).view({-1, 2});
    p.point_labels = at::tensor(p.labels, at::kLong);
  }
  if (args.has("--box")) p.box = at::tensor(parse_numbers("--box", args.get("--box"), 4, 4), at::kDouble);
  // SAM's advice: three masks for an ambiguous single click, one otherwise.
  p.multimask = p.labels.size() == 1 && !p.box.defined();
  if (args.has("--multimask")) p.multimask = true;
  if (args.has("--single")) p.multimask = false;
  return p;
}

int run_interactive(const PromptArgs& p, std::shared_ptr<models::SamModel> model, const at::Tensor& image,
                    const fs::path& out, nlohmann::json& report) {
  models::SamPredictor predictor(model);
  predictor.set_image(models::sam_image_to_uint8(image));
  const auto r = predictor.predict(p.points, p.point_labels, p.box, at::Tensor(), p.multimask);
  const at::Tensor masks = (r.masks > models::kSamMaskThreshold).to(at::kCPU);
  nlohmann::json list = nlohmann::json::array();
  for (int64_t i = 0; i < masks.size(0); ++i) {
    const std::string file = "mask_" + std::to_string(i) + ".png";
    write_label_png((out / file).string(), masks[i].to(at::kLong) * 255);
    list.push_back({{"file", file},
                    {"predicted_iou", r.iou_predictions[i].item<double>()},
                    {"area", masks[i].sum().item<int64_t>()}});
  }
  report["prompt"] = {{"points", p.xy}, {"labels", p.labels}, {"multimask_output", p.multimask}};
  if (p.box.defined())
    report["prompt"]["box"] = std::vector<double>(p.box.data_ptr<double>(), p.box.data_ptr<double>() + 4);
  report["masks"] = list;
  write_sam_overlay_png((out / "overlay.png").string(),
                        {image, masks, p.points, p.point_labels, p.box.defined() ? p.box.view({1, 4}) : p.box, 0.5,
                         kOverlayMinSide});
  write_json(out / "scores.json", report);
  std::cout << "wrote " << masks.size(0) << " mask(s), overlay.png and scores.json to " << out.string() << "\n";
  for (const auto& m : list)
    std::cout << "  " << m["file"].get<std::string>() << "  predicted IoU " << std::fixed << std::setprecision(3)
              << m["predicted_iou"].get<double>() << "  area " << m["area"].get<int64_t>() << " px\n";
  return 0;
}

int run_auto(const ParsedArgs& args, std::shared_ptr<models::SamModel> model, const at::Tensor& image,
             const fs::path& out, nlohmann::json& report) {
  models::SamAutoMaskOptions o;  // SamAutomaticMaskGenerator's defaults
  o.points_per_side = parse_count(kCmd, "--points-per-side",
                                  args.get("--points-per-side", std::to_string(o.points_per_side)));
  o.points_per_batch = parse_count(kCmd, "--points-per-batch",
                                   args.get("--points-per-batch", std::to_string(o.points_per_batch)));
  o.pred_iou_thresh = parse_real(kCmd, "--pred-iou-thresh",
                                 args.get("--pred-iou-thresh", std::to_string(o.pred_iou_thresh)));
  o.stability_score_thresh = parse_real(kCmd, "--stability-thresh",
                                        args.get("--stability-thresh", std::to_string(o.stability_score_thresh)));
  o.box_nms_thresh = parse_real(kCmd, "--nms-thresh", args.get("--nms-thresh", std::to_string(o.box_nms_thresh)));
  o.crop_n_layers = parse_count(kCmd, "--crop-layers", args.get("--crop-layers", "0"));
  o.min_mask_region_area = parse_count(kCmd, "--min-area", args.get("--min-area", "0"));
  if (o.points_per_side < 1 || o.points_per_batch < 1)
    throw UsageError("ovseg sam: --points-per-side and --points-per-batch must be positive");
  const auto records = models::sam_generate_masks(model, models::sam_image_to_uint8(image), o);
  nlohmann::json list = nlohmann::json::array();
  std::vector<at::Tensor> masks;
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    const std::string file = numbered("proposal_", i, 3);
    write_label_png((out / file).string(), r.segmentation.to(at::kLong) * 255);
    masks.push_back(r.segmentation);
    list.push_back({{"file", file},
                    {"area", r.area},
                    {"bbox_xywh", r.bbox},
                    {"predicted_iou", r.predicted_iou},
                    {"stability_score", r.stability_score},
                    {"point", r.point},
                    {"crop_box_xywh", r.crop_box}});
  }
  report["generator"] = {{"points_per_side", o.points_per_side},
                         {"pred_iou_thresh", o.pred_iou_thresh},
                         {"stability_score_thresh", o.stability_score_thresh},
                         {"box_nms_thresh", o.box_nms_thresh},
                         {"crop_n_layers", o.crop_n_layers},
                         {"min_mask_region_area", o.min_mask_region_area}};
  report["proposals"] = list;
  const at::Tensor all = masks.empty() ? at::zeros({0, image.size(2), image.size(3)}, at::kBool) : at::stack(masks);
  write_sam_overlay_png((out / "overlay.png").string(), {image, all, {}, {}, {}, 0.5, kOverlayMinSide});
  write_json(out / "proposals.json", report);
  std::cout << "wrote " << records.size() << " proposal(s), overlay.png and proposals.json to " << out.string() << "\n";
  return 0;
}

int run_sam(const ParsedArgs& args) {
  for (const char* required : {"--model", "--image", "--out"})
    if (!args.has(required)) throw UsageError(std::string("ovseg sam: ") + required + " is required");
  const bool automatic = args.has("--auto");
  if (automatic && (args.has("--point") || args.has("--box")))
    throw UsageError("ovseg sam: --auto generates its own point grid; drop --point / --box");
  if (!automatic && !args.has("--point") && !args.has("--box"))
    throw UsageError("ovseg sam: give a prompt (--point x,y[,label], --box x0,y0,x1,y1) or --auto");
  if (args.has("--multimask") && args.has("--single"))
    throw UsageError("ovseg sam: --multimask and --single exclude each other");
  const PromptArgs prompt = automatic ? PromptArgs{} : parse_prompt(args);
  const fs::path out = args.get("--out");
  fs::create_directories(out);

  const std::string file = models::resolve_model_file(args.get("--model"));
  auto model = models::SamModel::load(file);
  model->to(parse_device(args.get("--device", default_device())));
  const at::Tensor image = load_image(args.get("--image"));
  c10::InferenceMode guard;
  nlohmann::json report = {{"model", args.get("--model")},
                           {"checkpoint", file},
                           {"geometry", model->geometry().describe()},
                           {"image", args.get("--image")},
                           {"size_hw", {image.size(2), image.size(3)}},
                           {"mask_threshold", models::kSamMaskThreshold}};
  return automatic ? run_auto(args, model, image, out, report) : run_interactive(prompt, model, image, out, report);
}

}  // namespace

Command sam_command() {
  CommandSpec spec;
  spec.name = "sam";
  spec.summary = "Segment Anything on one image: masks for clicks / a box, or all masks (--auto)";
  spec.usage = "--model M --image IMG (--point x,y[,label])... [--box x0,y0,x1,y1] --out DIR | --auto";
  spec.options = {{"--model", "M", "SAM checkpoint: zoo name (sam:vit_b, mobilesam:vit_t, ovseg:world-sam) or file",
                   false},
                  {"--image", "IMG", "the image (PNG, JPEG, ...)", false},
                  {"--out", "DIR", "output folder (created)", false},
                  {"--point", "X,Y[,L]", "a click in image pixels; label 1 foreground (default) or 0 background", true},
                  {"--box", "X0,Y0,X1,Y1", "a box in image pixels", false},
                  {"--multimask", "", "three masks (the default for a single click without a box)", false},
                  {"--single", "", "one mask (the default for several clicks or a box)", false},
                  {"--auto", "", "automatic mask generator: every mask of the image", false},
                  {"--points-per-side", "N", "--auto: grid points per side (default 32)", false},
                  {"--points-per-batch", "N", "--auto: points decoded at once (default 64)", false},
                  {"--pred-iou-thresh", "X", "--auto: minimum predicted IoU (default 0.88)", false},
                  {"--stability-thresh", "X", "--auto: minimum stability score (default 0.95)", false},
                  {"--nms-thresh", "X", "--auto: box NMS IoU (default 0.7)", false},
                  {"--crop-layers", "N", "--auto: crop layers (default 0)", false},
                  {"--min-area", "N", "--auto: remove holes and islands below N pixels (default 0)", false},
                  {"--device", "DEV", "cpu, cuda or cuda:N (default: cuda when a GPU is visible, else cpu)", false}};
  spec.details =
      "Prompted: all clicks and the box form one prompt, as SamPredictor.predict;\n"
      "writes mask_<i>.png (0/255), overlay.png and scores.json (predicted IoU, area).\n"
      "--auto: writes proposal_<i>.png, overlay.png and proposals.json (SamAutomaticMaskGenerator's fields).";
  return {spec, run_sam};
}

}  // namespace ovseg::cli
