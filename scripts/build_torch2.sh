#!/usr/bin/env bash
# Second build configuration: ovseg against the LibTorch bundled in the PyPI
# `torch` wheel (pinned to 2.11.0, the GPU machine's version), into
# ${OVSEG_BUILD_DIR:-build-torch2}. The Debian LibTorch 1.13 build
# (scripts/build.sh, build/) stays the default.
#
# The PyPI Linux wheel of torch 2.11.0 is a CUDA 13.0 build (torch 2.11.0+cu130
# with the nvidia-* wheels); a CPU-only wheel exists only on
# download.pytorch.org, which this machine cannot reach. So this build dir is
# the CUDA variant too: CMake finds the CUDA toolkit (nvcc 13.0, matching the
# wheel's cu130) through the wheel's Caffe2 config, links libtorch_cuda and
# defines OVSEG_TORCH_HAS_CUDA; without a GPU everything runs on the CPU.
#
#   OVSEG_TORCH2_VENV   the venv holding torch (default /work/.venvs/torch211;
#                       created and filled with `pip install torch==2.11.0`
#                       when it does not exist)
#   Torch_DIR           use this LibTorch CMake config instead of the venv's
#   CUDAToolkit_ROOT    the CUDA toolkit (default /usr/local/cuda when present)
# Extra arguments go to cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${OVSEG_BUILD_DIR:-build-torch2}"
TORCH_VERSION_PIN=2.11.0
VENV="${OVSEG_TORCH2_VENV:-/work/.venvs/torch211}"

if [ -z "${Torch_DIR:-}" ]; then
  if [ ! -x "$VENV/bin/python3" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --no-cache-dir "torch==$TORCH_VERSION_PIN"
  fi
  prefix="$("$VENV/bin/python3" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null)"
  Torch_DIR="$prefix/Torch"
fi
[ -f "$Torch_DIR/TorchConfig.cmake" ] || { echo "build_torch2: no TorchConfig.cmake in $Torch_DIR" >&2; exit 1; }
# Torch_DIR alone is not enough: TorchConfig's find_package(Caffe2 PATHS ...)
# searches the system first and would pick Debian's 1.13 Caffe2 config.
TORCH_CMAKE="$(cd "$Torch_DIR/.." && pwd)"
# Likewise TorchConfig's find_library(TORCH_LIBRARY torch) and
# find_library(c10_LIBRARY c10) find Debian's libtorch.so / libc10.so first;
# two c10s in one process end in "free(): double free". Pinned to the wheel's.
TORCH_LIB="$(cd "$TORCH_CMAKE/../.." && pwd)/lib"
[ -f "$TORCH_LIB/libc10.so" ] || { echo "build_torch2: no libc10.so in $TORCH_LIB" >&2; exit 1; }

CUDA_ARGS=()
if [ -z "${CUDAToolkit_ROOT:-}" ] && [ -x /usr/local/cuda/bin/nvcc ]; then CUDAToolkit_ROOT=/usr/local/cuda; fi
if [ -n "${CUDAToolkit_ROOT:-}" ]; then
  CUDA_ARGS=(-DCUDAToolkit_ROOT="$CUDAToolkit_ROOT" -DCMAKE_CUDA_COMPILER="$CUDAToolkit_ROOT/bin/nvcc")
fi

# The wheel's libtorch.so exports its own copies of some libstdc++ symbols
# (std::filesystem::remove_all among them) that crash when called from our
# code (a null call: SIGSEGV). libstdc++ is put first in every binary's
# NEEDED list so the global symbol lookup finds the real ones first.
STDCXX_FIRST="-Wl,--push-state,--no-as-needed -lstdc++ -Wl,--pop-state"

GENERATOR=()
command -v ninja >/dev/null && GENERATOR=(-G Ninja)
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ] || [ $# -gt 0 ]; then
  cmake -S . -B "$BUILD_DIR" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$TORCH_CMAKE" -DTorch_DIR="$Torch_DIR" -DCaffe2_DIR="$TORCH_CMAKE/Caffe2" \
    -DTORCH_LIBRARY="$TORCH_LIB/libtorch.so" -Dc10_LIBRARY="$TORCH_LIB/libc10.so" \
    -DCMAKE_EXE_LINKER_FLAGS="$STDCXX_FIRST" -DCMAKE_SHARED_LINKER_FLAGS="$STDCXX_FIRST" \
    -DCMAKE_MODULE_LINKER_FLAGS="$STDCXX_FIRST" \
    "${CUDA_ARGS[@]}" "$@"
fi
cmake --build "$BUILD_DIR" -j "${OVSEG_JOBS:-$(nproc)}"
