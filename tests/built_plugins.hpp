// The plugins this build made (OVSEG_TEST_PLUGIN_DIR), loaded once per test
// process and never unloaded: stages and graphs made in a test point into it.
#pragma once

#include "ovseg/host/plugin_loader.hpp"

namespace ovseg_test {

inline const ovseg::PluginCatalog& catalog() {
  static const ovseg::PluginCatalog c = [] {
    ovseg::PluginCatalog cat;
    cat.load_directory(OVSEG_TEST_PLUGIN_DIR);
    return cat;
  }();
  return c;
}

}  // namespace ovseg_test
