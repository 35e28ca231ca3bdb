#include "shared_models.hpp"

#include <filesystem>
#include <map>
#include <mutex>

#include "ovseg/models/model_zoo.hpp"

namespace ovseg::clip_plugins {

std::string model_argument(const StageInit& init) {
  const std::string& m = init.params.get_string("model");
  const std::string relative = init.resolve_path(m);
  return std::filesystem::is_regular_file(relative) ? relative : m;
}

std::shared_ptr<models::ClipModel> shared_clip_model(const std::string& model, at::Device device) {
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<models::ClipModel>> loaded;
  const std::string file = models::resolve_model_file(model);
  const std::string key = file + "@" + device.str();
  std::lock_guard<std::mutex> lock(mutex);
  if (auto alive = loaded[key].lock()) return alive;
  auto m = models::ClipModel::load(file);
  m->to(device);
  loaded[key] = m;
  return m;
}

}  // namespace ovseg::clip_plugins
