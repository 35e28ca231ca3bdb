// The process settings every ovseg binary applies with ovseg::init_process()
// (sdk/src/runtime.cpp): LibTorch's CPU allocator reuses freed large blocks;
// the thread policy; and nothing happens merely by loading the SDK.
#include <c10/core/CPUAllocator.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "ovseg/sdk.hpp"

#include <doctest/doctest.h>  // glog's CHECK is handled by tests/doctest_prelude.hpp

TEST_CASE("runtime: freed blocks of 32 MiB and more are reused, smaller ones go to the default allocator") {
  ovseg::init_process();               // the test main applied it already; calling again is harmless
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

namespace {

std::string shell_output(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  ::pclose(pipe);
  return out;
}

}  // namespace

TEST_CASE("runtime: loading libovseg_sdk changes nothing; init_process() is explicit") {
  // A malformed OVSEG_CPU_CACHE_MB is what a static initialiser would warn
  // about at load time: the probe, which never calls init_process(), must
  // print no warning and keep LibTorch's own thread count.
  const std::string out = shell_output(
      "env -u OMP_NUM_THREADS OVSEG_CPU_CACHE_MB=abc OVSEG_THREADS=1 '" OVSEG_SDK_LOAD_PROBE "'");
  CHECK(out.rfind("initialised=0 threads=", 0) == 0);
  CHECK(out.find("ovseg:") == std::string::npos);
  // LibTorch's own choice, not ours: with OMP_NUM_THREADS=3 (which only
  // LibTorch reads) the probe reports 3 although OVSEG_THREADS says 1.
  // MKL_DYNAMIC=FALSE is for LibTorch 2.x from the PyPI wheel, which is
  // built with MKL: its at::init_num_threads() sets OpenMP's count to
  // mkl_get_max_threads(), and MKL's default MKL_DYNAMIC=TRUE caps that at
  // the physical cores (3 -> 2 on this 2-core machine; Python's torch 2.11
  // says the same). Debian's 1.13 has no MKL and ignores the variable.
  const std::string omp = shell_output("env OMP_NUM_THREADS=3 MKL_DYNAMIC=FALSE OVSEG_THREADS=1 '" OVSEG_SDK_LOAD_PROBE
                                       "'");
  CHECK(omp == "initialised=0 threads=3\n");
  CHECK(ovseg::process_initialised());  // the test main called it
}

TEST_CASE("runtime: the thread policy (OVSEG_THREADS, OMP_NUM_THREADS, core count)") {
  using ovseg::choose_thread_policy;
  CHECK(choose_thread_policy("4", nullptr, 2).threads == 4);
  CHECK(choose_thread_policy("4", "8", 16).threads == 4);         // ours wins
  CHECK(choose_thread_policy(nullptr, "3", 2).threads == 0);      // LibTorch honours OMP_NUM_THREADS itself
  CHECK(choose_thread_policy(nullptr, nullptr, 2).threads == 1);  // measured on 2 cores
  CHECK(choose_thread_policy(nullptr, nullptr, 1).threads == 1);
  CHECK(choose_thread_policy(nullptr, nullptr, 16).threads == 0);  // a 16-core box keeps its cores
  for (const char* bad : {"0", "-2", "two", "3x", ""}) {
    CAPTURE(bad);
    const ovseg::ThreadPolicy p = choose_thread_policy(bad, nullptr, 2);
    CHECK(p.threads == 1);
    CHECK(p.reason.find("is not a positive whole number") != std::string::npos);
  }
  // The CLI applies it: OVSEG_THREADS reaches LibTorch (device line of `ovseg run`).
  const std::string cli = OVSEG_CLI;
  const std::string run = " '" + cli +
                          "' run '" OVSEG_SOURCE_DIR "/pipelines/colour_prototypes.toml' --image '" OVSEG_SOURCE_DIR
                          "/pipelines/examples/beach.png' --whole --no-logits --out ";
  const auto tmp = std::filesystem::temp_directory_path() / ("ovseg_threads_" + std::to_string(::getpid()));
  const std::string three = shell_output("env -u OVSEG_PLUGIN_PATH OVSEG_THREADS=3" + run + "'" + tmp.string() + "'");
  CHECK(three.find(", 3 threads)") != std::string::npos);
  const std::string bad = shell_output("env -u OVSEG_PLUGIN_PATH OVSEG_THREADS=many" + run + "'" + tmp.string() + "'");
  CHECK(bad.find("ovseg: OVSEG_THREADS='many' is not a positive whole number") != std::string::npos);
  std::filesystem::remove_all(tmp);
}
