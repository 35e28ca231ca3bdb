// What a plugin and the host must agree on beyond kSdkAbiVersion: the
// LibTorch version (tensor and variant layouts), the compiler and its C++
// library (std::string, std::function, std::variant layouts, the C++11 ABI
// switch). Both sides expand this macro in their own code: the plugin in its
// entry point (ovseg_build_fingerprint(), plugin_entry.cpp), the host in the
// loader, which refuses a plugin whose fingerprint differs, naming both.
#pragma once

#include <torch/version.h>

#define OVSEG_FINGERPRINT_STR2(x) #x
#define OVSEG_FINGERPRINT_STR(x) OVSEG_FINGERPRINT_STR2(x)

#if defined(__clang__)
#define OVSEG_FINGERPRINT_COMPILER \
  "clang " OVSEG_FINGERPRINT_STR(__clang_major__) "." OVSEG_FINGERPRINT_STR(__clang_minor__)
#elif defined(__GNUC__)
#define OVSEG_FINGERPRINT_COMPILER "gcc " OVSEG_FINGERPRINT_STR(__GNUC__) "." OVSEG_FINGERPRINT_STR(__GNUC_MINOR__)
#else
#define OVSEG_FINGERPRINT_COMPILER "unknown compiler"
#endif

#if defined(__GLIBCXX__)
#define OVSEG_FINGERPRINT_STDLIB \
  "libstdc++ " OVSEG_FINGERPRINT_STR(__GLIBCXX__) " cxx11-abi " OVSEG_FINGERPRINT_STR(_GLIBCXX_USE_CXX11_ABI)
#elif defined(_LIBCPP_VERSION)
#define OVSEG_FINGERPRINT_STDLIB "libc++ " OVSEG_FINGERPRINT_STR(_LIBCPP_VERSION)
#else
#define OVSEG_FINGERPRINT_STDLIB "unknown C++ library"
#endif

// e.g. "libtorch 1.13.1; gcc 12.2; libstdc++ 20220819 cxx11-abi 1"
#define OVSEG_BUILD_FINGERPRINT "libtorch " TORCH_VERSION "; " OVSEG_FINGERPRINT_COMPILER "; " OVSEG_FINGERPRINT_STDLIB
