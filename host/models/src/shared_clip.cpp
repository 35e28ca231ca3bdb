#include "ovseg/models/shared_clip.hpp"

#include <filesystem>
#include <map>
#include <mutex>

#include "ovseg/models/model_zoo.hpp"

namespace ovseg::models {

std::string clip_model_argument(const StageInit& init, const std::string& param) {
  const std::string& m = init.params.get_string(param);
  const std::string relative = init.resolve_path(m);
  return std::filesystem::is_regular_file(relative) ? relative : m;
}

std::shared_ptr<ClipModel> shared_clip_model(const std::string& model, at::Device device) {
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<ClipModel>> loaded;
  const std::string file = resolve_model_file(model);
  const std::string key = file + "@" + device.str();
  std::lock_guard<std::mutex> lock(mutex);
  if (auto alive = loaded[key].lock()) return alive;
  auto m = ClipModel::load(file);
  m->to(device);
  loaded[key] = m;
  return m;
}

}  // namespace ovseg::models
