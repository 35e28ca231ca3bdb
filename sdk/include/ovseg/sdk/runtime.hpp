// Process-wide LibTorch settings (allocator behaviour, thread count).
#pragma once

namespace ovseg {

// Applied automatically when libovseg_sdk loads; call again after changing
// OMP_NUM_THREADS. Safe to call more than once.
void configure_runtime();

}  // namespace ovseg
