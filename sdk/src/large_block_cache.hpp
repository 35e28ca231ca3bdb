// Internal to libovseg_sdk: see large_block_cache.cpp.
#pragma once

#include <cstddef>

namespace ovseg::detail {

// Makes LibTorch's CPU allocator keep freed blocks of 32 MiB and more (up to
// max_cached_bytes in all) for reuse. 0 = leave the default allocator alone.
void install_large_block_cache(std::size_t max_cached_bytes);

}  // namespace ovseg::detail
