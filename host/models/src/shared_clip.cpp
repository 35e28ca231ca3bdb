#include "ovseg/models/shared_clip.hpp"

#include <filesystem>
#include <map>
#include <mutex>
#include <vector>

#include "ovseg/models/model_zoo.hpp"

namespace ovseg::models {

std::string clip_model_argument(const StageInit& init, const std::string& param) {
  const std::string& m = init.params.get_string(param);
  const std::string relative = init.resolve_path(m);
  return std::filesystem::is_regular_file(relative) ? relative : m;
}

namespace {

struct SharedModels {
  std::mutex mutex;
  std::map<std::string, std::weak_ptr<ClipModel>> loaded;
  int keepers = 0;                                   // live KeepSharedModels
  std::vector<std::shared_ptr<ClipModel>> retained;  // held for them
};

SharedModels& shared_models() {
  static SharedModels s;
  return s;
}

}  // namespace

KeepSharedModels::KeepSharedModels() {
  std::lock_guard<std::mutex> lock(shared_models().mutex);
  ++shared_models().keepers;
}

KeepSharedModels::~KeepSharedModels() {
  std::vector<std::shared_ptr<ClipModel>> release;  // freed outside the lock
  std::lock_guard<std::mutex> lock(shared_models().mutex);
  if (--shared_models().keepers == 0) release.swap(shared_models().retained);
}

std::shared_ptr<ClipModel> shared_clip_model(const std::string& model, at::Device device) {
  SharedModels& s = shared_models();
  const std::string file = resolve_model_file(model);
  const std::string key = file + "@" + device.str();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (auto alive = s.loaded[key].lock()) return alive;
  auto m = ClipModel::load(file);
  m->to(device);
  s.loaded[key] = m;
  if (s.keepers > 0) s.retained.push_back(m);
  return m;
}

}  // namespace ovseg::models
