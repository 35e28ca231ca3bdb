// A "plugin" from a future SDK: the host must refuse it by its ABI version
// alone, naming the file and both versions, without calling anything else.
#include <boost/config.hpp>

extern "C" BOOST_SYMBOL_EXPORT int ovseg_sdk_abi_version() { return 999; }
