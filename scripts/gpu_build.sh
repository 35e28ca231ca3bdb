#!/usr/bin/env bash
# Builds ovseg on the GPU machine itself, against the CUDA LibTorch there
# (Torch_DIR, or python3's torch.utils.cmake_prefix_path) and Debian 12's
# OpenCV / Boost / toml++ / benchmark / doctest / nlohmann-json headers from
# .deb files unpacked without root into build-gpu/sysroot (the machine has no
# registry). The fallback of scripts/gpu_run.sh when the binaries built here
# (scripts/gpu_bundle.sh) cannot load there; also usable by hand.
#
#   here:   bash scripts/gpu_bundle.sh && bash scripts/gpu_build.sh --download
#           (apt-get download of the -dev packages into build-gpu/debs, ~14 MB)
#   there:  bash scripts/gpu_build.sh    (carry build-gpu)
#
# The shared libraries come from the bundle's ovseg-deps.tar.xz (with the
# GDAL/GDCM stubs, see gpu_bundle.sh); the .debs give headers, CMake configs
# and the unversioned .so links.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
GPU="$REPO/build-gpu"
DEV_DEBS=(libopencv-dev libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
          libboost1.74-dev libboost-filesystem1.74-dev libtomlplusplus-dev libbenchmark-dev
          doctest-dev nlohmann-json3-dev)

if [ "${1:-}" = --download ]; then
  mkdir -p "$GPU/debs"
  (cd "$GPU/debs" && apt-get download "${DEV_DEBS[@]}")
  du -sh "$GPU/debs"
  exit 0
fi

SYSROOT="$GPU/sysroot"
LIBDIR="$SYSROOT/usr/lib/x86_64-linux-gnu"
rm -rf "$SYSROOT"
mkdir -p "$LIBDIR"
for deb in "$GPU"/debs/*.deb; do dpkg -x "$deb" "$SYSROOT"; done
tar -C "$GPU" -xJf "$GPU/ovseg-deps.tar.xz"
cp -a "$GPU"/deps/. "$LIBDIR/"
# The .debs' libfoo.so links point at Debian's real file names; the bundle
# holds each library under its soname (and the real name as a link).
find "$LIBDIR" -maxdepth 1 -xtype l | while read -r link; do
  base="$(basename "$link")"
  target="$(ls "$LIBDIR/$base".* 2>/dev/null | head -1 || true)"
  [ -n "$target" ] && ln -sfn "$(basename "$target")" "$link"
done
# OpenCV's exported targets name every module Debian builds; CMake checks
# that each file exists. ovseg links core, imgproc and imgcodecs only: the
# others get empty placeholders (never linked).
grep -ho '${_IMPORT_PREFIX}/lib/x86_64-linux-gnu/libopencv_[a-z0-9_]*\.so\.[0-9.]*' \
    "$LIBDIR"/cmake/opencv4/OpenCVModules-release.cmake | sed "s|\${_IMPORT_PREFIX}|$SYSROOT/usr|" | sort -u |
  while read -r f; do [ -e "$f" ] || touch "$f"; done

PY="${OVSEG_PYTHON:-python3}"
if [ -z "${Torch_DIR:-}" ]; then
  Torch_DIR="$("$PY" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')/Torch"
fi
TORCH_CMAKE="$(cd "$Torch_DIR/.." && pwd)"
NVCC="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
# The tests name ../shared/data relative to the source dir.
# (gpu_bundle.sh puts the tar in build-gpu-data, carried by a call of its own.)
for tarball in "$REPO/build-gpu-data/shared-data.tar" "$GPU/shared-data.tar"; do
  if [ ! -d "$REPO/../shared/data" ] && [ -f "$tarball" ]; then
    mkdir -p "$REPO/../shared" && tar -C "$REPO/../shared" -xf "$tarball"
  fi
done
export LD_LIBRARY_PATH="$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# libstdc++ first in NEEDED: see scripts/build_torch2.sh.
LINK="-Wl,--push-state,--no-as-needed -lstdc++ -Wl,--pop-state -Wl,-rpath-link,$LIBDIR -Wl,-rpath,$LIBDIR"
cmake -S . -B build-torch2 -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$SYSROOT/usr;$TORCH_CMAKE" -DTorch_DIR="$Torch_DIR" -DCaffe2_DIR="$TORCH_CMAKE/Caffe2" \
  -DTORCH_LIBRARY="$TORCH_CMAKE/../../lib/libtorch.so" -Dc10_LIBRARY="$TORCH_CMAKE/../../lib/libc10.so" \
  -DOpenCV_DIR="$LIBDIR/cmake/opencv4" -DBoost_DIR="$LIBDIR/cmake/Boost-1.74.0" \
  -DCMAKE_CUDA_COMPILER="$NVCC" -DCUDAToolkit_ROOT="$(dirname "$(dirname "$NVCC")")" \
  -DTORCH_CUDA_ARCH_LIST=9.0 \
  -DCMAKE_EXE_LINKER_FLAGS="$LINK" -DCMAKE_SHARED_LINKER_FLAGS="$LINK" -DCMAKE_MODULE_LINKER_FLAGS="$LINK"
cmake --build build-torch2 -j "$(nproc)"
