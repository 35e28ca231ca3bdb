// The process settings every ovseg binary gets from libovseg_sdk
// (sdk/src/runtime.cpp): LibTorch's CPU allocator reuses freed large blocks.
#include <c10/core/CPUAllocator.h>

#include "ovseg/sdk.hpp"

#include <doctest/doctest.h>  // glog's CHECK is handled by tests/doctest_prelude.hpp

TEST_CASE("runtime: freed blocks of 32 MiB and more are reused, smaller ones go to the default allocator") {
  ovseg::configure_runtime();  // already applied at load; calling again is harmless
  const int64_t big = (40 << 20) / 4;  // 40 MiB of floats
  void* first = nullptr;
  {
    at::Tensor a = at::empty({big});
    a.fill_(1.0f);
    first = a.data_ptr();
  }
  {
    at::Tensor b = at::empty({big - 1000});  // a little smaller: the same block fits
    CHECK(b.data_ptr() == first);
    b.fill_(2.0f);
    CHECK(b.sum().item<double>() == doctest::Approx(2.0 * (big - 1000)));
    at::Tensor c = at::empty({big});  // the cached block is taken: a new one
    CHECK(c.data_ptr() != first);
  }
  // A request over twice a cached block's size does not take it.
  at::Tensor huge = at::empty({3 * big});
  CHECK(huge.data_ptr() != first);
  // Small blocks and raw allocations keep working through the same allocator.
  at::Tensor small = at::ones({1000});
  CHECK(small.sum().item<double>() == 1000.0);
  c10::Allocator* alloc = c10::GetCPUAllocator();
  for (size_t n : {size_t{256}, size_t{48} << 20}) {
    void* p = alloc->raw_allocate(n);
    REQUIRE(p != nullptr);
    static_cast<char*>(p)[n - 1] = 1;
    alloc->raw_deallocate(p);
  }
}
