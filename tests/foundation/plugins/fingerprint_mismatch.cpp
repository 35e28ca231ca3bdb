// A plugin of this SDK ABI version built with another LibTorch / compiler:
// the host must refuse it by its build fingerprint, naming the file and
// both fingerprints, before reading its descriptors.
#include <boost/config.hpp>

#include "ovseg/sdk/plugin.hpp"

extern "C" BOOST_SYMBOL_EXPORT int ovseg_sdk_abi_version() { return ovseg::kSdkAbiVersion; }
extern "C" BOOST_SYMBOL_EXPORT const char* ovseg_build_fingerprint() {
  return "libtorch 0.4.0; gcc 4.8; libstdc++ 20130531 cxx11-abi 0";
}
