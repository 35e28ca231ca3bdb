// Finds plugin libraries, checks their SDK ABI version, and keeps them
// loaded for as long as anything made from them lives.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ovseg/sdk/plugin.hpp"

namespace boost::dll {
class shared_library;
}

namespace ovseg {

struct LoadedPlugin {
  // Declared first so it is destroyed last: the descriptor's factory is code
  // inside the library.
  std::shared_ptr<boost::dll::shared_library> library;
  PluginDescriptor descriptor;
  std::string library_path;
};

struct PluginLoadProblem {
  std::string library_path;
  std::string message;
};

class PluginCatalog {
 public:
  // Loads one plugin library; throws ovseg::Error naming the file on an ABI
  // mismatch, a missing entry point, a duplicate plugin name or a file that
  // is not a loadable library.
  void load_library(const std::string& path);
  // Loads every libovseg_plugin_*.so in `dir`; failures are recorded in
  // problems() so one broken plugin does not hide the others.
  void load_directory(const std::string& dir);

  const LoadedPlugin* find(const std::string& name) const;
  std::vector<std::string> names() const;
  const std::map<std::string, LoadedPlugin>& plugins() const { return plugins_; }
  const std::vector<PluginLoadProblem>& problems() const { return problems_; }
  const std::vector<std::string>& searched_dirs() const { return searched_dirs_; }

 private:
  std::map<std::string, LoadedPlugin> plugins_;
  std::vector<PluginLoadProblem> problems_;
  std::vector<std::string> searched_dirs_;
};

// Instantiates one plugin's stage outside a graph (tests, benchmarks, tools):
// parameters not given keep their defaults; an unknown plugin or parameter,
// a value of the wrong type (ints are accepted for floats, as in TOML), out
// of range or not among the choices is an ovseg::Error, exactly as for a
// pipeline node (validate_params). The catalog must outlive the stage.
std::unique_ptr<Stage> create_stage(const PluginCatalog& catalog, const std::string& plugin,
                                    const std::map<std::string, ParamValue>& params = {},
                                    const std::string& node_id = "under_test", const std::string& device = "cpu");

// The plugin search path, in order: directories given with --plugin-dir,
// then OVSEG_PLUGIN_PATH (colon-separated), then the folder next to the
// binary (<bin>/../lib/ovseg/plugins).
std::vector<std::string> plugin_search_path(const std::vector<std::string>& cli_dirs);

// Loads every directory of the search path that exists.
PluginCatalog discover_plugins(const std::vector<std::string>& cli_dirs);

}  // namespace ovseg
