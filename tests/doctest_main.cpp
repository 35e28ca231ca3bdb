// The test binaries' main: the process settings every ovseg binary applies
// (sdk/include/ovseg/sdk/runtime.hpp), then doctest.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "ovseg/sdk/runtime.hpp"

int main(int argc, char** argv) {
  ovseg::init_process();
  return doctest::Context(argc, argv).run();
}
