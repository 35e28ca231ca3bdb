// A loadable shared library without the ovseg entry points.
#include <boost/config.hpp>

extern "C" BOOST_SYMBOL_EXPORT int ovseg_foundation_not_a_plugin_answer() { return 42; }
