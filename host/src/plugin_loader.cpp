#include "ovseg/host/plugin_loader.hpp"

#include <algorithm>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>

#include "ovseg/host/param_validation.hpp"
#include "ovseg/sdk/build_fingerprint.hpp"
#include "ovseg/sdk/diagnostics.hpp"
#include "ovseg/sdk/stage.hpp"

namespace fs = std::filesystem;

namespace ovseg {

namespace {
constexpr const char* kPluginPrefix = "libovseg_plugin_";

Error load_error(const std::string& path, const std::string& problem, const std::string& fix) {
  return Error({path, 0, 0}, "", problem, fix);
}

// boost::dll reports a failed dlopen as an errno text ("Bad file
// descriptor"): say what the file is instead, or dlerror()'s reason.
std::string library_problem(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  if (in.gcount() == 0) return "the file is empty, not a shared library";
  if (in.gcount() < 4 || std::string(magic, 4) !=
                             "\x7f"
                             "ELF")
    return "not a shared library (no ELF header; a text file?)";
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle != nullptr) {
    ::dlclose(handle);
    return "";
  }
  const char* reason = ::dlerror();
  return reason != nullptr ? reason : "";
}

// A mistyped OVSEG_PLUGIN_PATH entry would otherwise only show up as
// "unknown plugin" later; said once per entry and process.
void warn_if_missing_env_dir(const std::string& dir) {
  static std::mutex mutex;
  static std::set<std::string> warned;
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return;
  std::lock_guard<std::mutex> lock(mutex);
  if (warned.insert(dir).second)
    std::cerr << "warning: OVSEG_PLUGIN_PATH entry '" << dir << "' is not a folder; ignored\n";
}
}  // namespace

void PluginCatalog::load_library(const std::string& path) {
  if (!fs::exists(path)) throw load_error(path, "plugin library not found", "check the path or --plugin-dir");
  auto lib = std::make_shared<boost::dll::shared_library>();
  boost::dll::fs::error_code ec;
  // RTLD_LOCAL: a plugin's symbols never leak into another plugin.
  lib->load(path, ec, boost::dll::load_mode::rtld_local | boost::dll::load_mode::rtld_now);
  if (ec) {
    const std::string problem = library_problem(path);
    throw load_error(path, "cannot load plugin library: " + (problem.empty() ? ec.message() : problem),
                     "rebuild the plugin against this ovseg, or remove the file");
  }
  if (!lib->has("ovseg_sdk_abi_version"))
    throw load_error(path, "not an ovseg plugin (no ovseg_sdk_abi_version entry point)",
                     "build it with ovseg_add_plugin() so the SDK entry point is linked in");
  const int abi = lib->get<int()>("ovseg_sdk_abi_version")();
  if (abi != kSdkAbiVersion)
    throw load_error(path,
                     "plugin built against SDK ABI version " + std::to_string(abi) + ", this host speaks version " +
                         std::to_string(kSdkAbiVersion),
                     "rebuild the plugin against this ovseg's sdk/ headers");
  // Same ABI version, but built with another LibTorch or compiler: the
  // types they exchange may differ in layout, so refuse before touching any.
  if (!lib->has("ovseg_build_fingerprint"))
    throw load_error(path, "plugin has no build fingerprint (ovseg_build_fingerprint entry point)",
                     "rebuild it with this ovseg's ovseg_add_plugin()");
  const std::string fingerprint = lib->get<const char*()>("ovseg_build_fingerprint")();
  if (fingerprint != OVSEG_BUILD_FINGERPRINT)
    throw load_error(path, "plugin built with " + fingerprint + ", this host with " + OVSEG_BUILD_FINGERPRINT,
                     "rebuild the plugin with the same LibTorch and compiler as this ovseg");
  if (!lib->has("ovseg_plugin_descriptors"))
    throw load_error(path, "plugin has no ovseg_plugin_descriptors entry point", "build it with ovseg_add_plugin()");
  using DescriptorsFn = const std::vector<PluginDescriptor>*();
  const auto* descriptors = lib->get<DescriptorsFn>("ovseg_plugin_descriptors")();
  if (descriptors == nullptr || descriptors->empty())
    throw load_error(path, "plugin library registers no plugin", "add OVSEG_REGISTER_PLUGIN(YourStage) to its source");
  for (const auto& d : *descriptors) {
    if (auto it = plugins_.find(d.name); it != plugins_.end())
      throw load_error(path, "plugin '" + d.name + "' is already provided by " + it->second.library_path,
                       "remove one of the two libraries from the plugin path");
    if (!d.create)
      throw load_error(path, "plugin '" + d.name + "' has no factory", "register it with OVSEG_REGISTER_PLUGIN");
  }
  for (const auto& d : *descriptors) plugins_[d.name] = LoadedPlugin{lib, d, path};
}

void PluginCatalog::load_directory(const std::string& dir) {
  searched_dirs_.push_back(dir);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kPluginPrefix, 0) == 0 && entry.path().extension() == ".so") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());  // deterministic: first on the path wins
  for (const auto& f : files) {
    try {
      load_library(f);
    } catch (const std::exception& e) {
      problems_.push_back({f, e.what()});
    }
  }
}

const LoadedPlugin* PluginCatalog::find(const std::string& name) const {
  auto it = plugins_.find(name);
  return it == plugins_.end() ? nullptr : &it->second;
}

std::vector<std::string> PluginCatalog::names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : plugins_) out.push_back(name);
  return out;
}

std::unique_ptr<Stage> create_stage(const PluginCatalog& catalog, const std::string& plugin,
                                    const std::map<std::string, ParamValue>& params, const std::string& node_id,
                                    const std::string& device) {
  const LoadedPlugin* p = catalog.find(plugin);
  if (p == nullptr)
    throw Error({}, node_id, "unknown plugin '" + plugin + "'" + did_you_mean(plugin, catalog.names()),
                "build it, or check the plugin folder");
  // The same checks as a pipeline's nodes get (type, range, choices).
  std::map<std::string, SpecValue> given;
  for (const auto& [name, value] : params) given[name] = SpecValue{value, {}, false};
  Params values = validate_params(p->descriptor, given, node_id);
  StageInit init;
  init.node_id = node_id;
  init.params = std::move(values);
  init.device = device;
  return p->descriptor.create(init);
}

std::vector<std::string> plugin_search_path(const std::vector<std::string>& cli_dirs) {
  std::vector<std::string> dirs = cli_dirs;
  if (const char* env = std::getenv("OVSEG_PLUGIN_PATH")) {
    std::string s = env;
    size_t start = 0;
    while (start <= s.size()) {
      size_t end = s.find(':', start);
      if (end == std::string::npos) end = s.size();
      if (end > start) dirs.push_back(s.substr(start, end - start));
      if (end > start) warn_if_missing_env_dir(dirs.back());
      start = end + 1;
    }
  }
  boost::dll::fs::error_code ec;
  auto exe = boost::dll::program_location(ec);
  if (!ec)
    dirs.push_back(
        (fs::path(exe.parent_path().string()) / ".." / "lib" / "ovseg" / "plugins").lexically_normal().string());
  // Drop repeats but keep the order.
  std::vector<std::string> unique;
  for (const auto& d : dirs)
    if (std::find(unique.begin(), unique.end(), d) == unique.end()) unique.push_back(d);
  return unique;
}

PluginCatalog discover_plugins(const std::vector<std::string>& cli_dirs) {
  PluginCatalog catalog;
  for (const auto& d : cli_dirs)
    if (!fs::is_directory(d)) throw Error({d, 0, 0}, "", "plugin directory does not exist", "check --plugin-dir");
  for (const auto& d : plugin_search_path(cli_dirs)) catalog.load_directory(d);
  return catalog;
}

}  // namespace ovseg
