// Force-included first in every test translation unit (see CMakeLists.txt).
// Debian's LibTorch logs through glog, whose CHECK/CHECK_EQ/... macros would
// replace doctest's in any file that includes ATen after doctest: a failing
// CHECK would then abort the binary instead of being reported. Including
// ATen first and dropping glog's macros lets doctest's definitions stand.
#pragma once
#include <ATen/ATen.h>
#undef CHECK
#undef CHECK_EQ
#undef CHECK_NE
#undef CHECK_LT
#undef CHECK_LE
#undef CHECK_GT
#undef CHECK_GE
#undef CHECK_NOTNULL
#include <doctest/doctest.h>
