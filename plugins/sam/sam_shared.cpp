#include "sam_shared.hpp"

#include <map>
#include <mutex>

#include "ovseg/models/model_zoo.hpp"

namespace ovseg::sam_plugins {

std::shared_ptr<models::SamModel> shared_sam_model(const StageInit& init, const std::string& model) {
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<models::SamModel>> loaded;
  const std::string file = models::resolve_model_file(model, init.pipeline_dir);
  const at::Device device(init.device);
  const std::string key = file + "@" + device.str();
  std::lock_guard<std::mutex> lock(mutex);
  if (auto alive = loaded[key].lock()) return alive;
  auto m = models::SamModel::load(file);
  m->to(device);
  loaded[key] = m;
  return m;
}

std::shared_ptr<models::SamModel> sam_model_input(StageContext& ctx, const std::string& port) {
  try {
    return ctx.model<models::SamModel>(port);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string(e.what()) +
                                " -- fix: wire it to a sam_image_encoder node's 'model' output");
  }
}

int64_t check_prompts(const Prompts& p, int64_t batch, int64_t mask_side, const std::string& node,
                      const std::string& port) {
  const std::string where = "node '" + node + "' input '" + port + "': ";
  const std::string images = " with B = " + std::to_string(batch) + " image" + (batch == 1 ? "" : "s");
  int64_t prompts = -1;
  auto check = [&](const at::Tensor& t, const char* name, std::vector<int64_t> dims, const char* expected) {
    if (!t.defined()) return;
    bool ok = t.dim() == static_cast<int64_t>(dims.size()) && t.size(0) == batch;
    for (size_t i = 2; ok && i < dims.size(); ++i) ok = dims[i] < 0 || t.size(static_cast<int64_t>(i)) == dims[i];
    if (!ok)
      throw std::invalid_argument(where + name + " has shape " + shape_string(t) + ", expected " + expected + images);
    if (prompts >= 0 && t.size(1) != prompts)
      throw std::invalid_argument(where + name + " has shape " + shape_string(t) + ": " + std::to_string(t.size(1)) +
                                  " prompts per image, other parts have " + std::to_string(prompts));
    prompts = t.size(1);
  };
  check(p.points, "points", {batch, -1, -1, 2}, "(B, P, N, 2)");
  check(p.boxes, "boxes", {batch, -1, 4}, "(B, P, 4)");
  check(p.mask_inputs, "mask_inputs", {batch, -1, 1, mask_side, mask_side},
        ("(B, P, 1, " + std::to_string(mask_side) + ", " + std::to_string(mask_side) + ")").c_str());
  if (p.points.defined()) {
    if (!p.point_labels.defined())
      throw std::invalid_argument(where + "points " + shape_string(p.points) + " come without point_labels");
    if (p.point_labels.sizes() != p.points.sizes().slice(0, 3))
      throw std::invalid_argument(where + "point_labels has shape " + shape_string(p.point_labels) +
                                  ", expected (B, P, N) = " + shape_string(p.points.select(-1, 0)));
    if (p.point_labels.is_floating_point())
      throw std::invalid_argument(where + "point_labels must be integers (1 foreground, 0 background, -1 padding)");
    if (p.point_labels.numel() &&
        (p.point_labels.min().item<int64_t>() < -1 || p.point_labels.max().item<int64_t>() > 1))
      throw std::invalid_argument(where + "point_labels hold values outside {-1, 0, 1}");
  }
  return prompts < 0 ? 0 : prompts;
}

at::Tensor sam_encoder_input(const at::Tensor& images, int64_t image_size, models::SamFrame* frame) {
  std::vector<at::Tensor> pixels;
  for (int64_t b = 0; b < images.size(0); ++b)
    pixels.push_back(models::sam_preprocess_image(models::sam_image_to_uint8(images[b]), image_size, frame));
  return at::cat(pixels, 0);
}

}  // namespace ovseg::sam_plugins
