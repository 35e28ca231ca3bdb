// Links libovseg_sdk (and uses it) but never calls ovseg::init_process():
// loading the SDK must leave the process's allocator and threads alone.
#include <ATen/Parallel.h>

#include <cstdio>

#include "ovseg/sdk/runtime.hpp"

int main() {
  std::printf("initialised=%d threads=%d\n", ovseg::process_initialised() ? 1 : 0, at::get_num_threads());
  return 0;
}
