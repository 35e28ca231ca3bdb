// Compiled into every plugin library by ovseg_add_plugin(). It owns the
// library's private plugin registry and exports the C entry points the
// host looks up through Boost.DLL. Only these symbols are visible outside
// the plugin (plugins build with hidden visibility).
#include <boost/config.hpp>

#include "ovseg/sdk/build_fingerprint.hpp"
#include "ovseg/sdk/plugin.hpp"

namespace ovseg::detail {

std::vector<PluginDescriptor>& plugin_registry() {
  static std::vector<PluginDescriptor> registry;
  return registry;
}

bool register_plugin(PluginDescriptor d) {
  plugin_registry().push_back(std::move(d));
  return true;
}

}  // namespace ovseg::detail

// Plain C, so the host can read it from a plugin of any SDK version.
extern "C" BOOST_SYMBOL_EXPORT int ovseg_sdk_abi_version() { return ovseg::kSdkAbiVersion; }

// Plain C too: the LibTorch / compiler / C++ library this plugin was built
// with (build_fingerprint.hpp), checked by the host right after the ABI version.
extern "C" BOOST_SYMBOL_EXPORT const char* ovseg_build_fingerprint() { return OVSEG_BUILD_FINGERPRINT; }

// Only called after the ABI version and the fingerprint matched.
extern "C" BOOST_SYMBOL_EXPORT const std::vector<ovseg::PluginDescriptor>* ovseg_plugin_descriptors() {
  return &ovseg::detail::plugin_registry();
}
