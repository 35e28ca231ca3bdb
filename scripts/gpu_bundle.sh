#!/usr/bin/env bash
# Packs the LibTorch 2.11 / CUDA build (scripts/build_torch2.sh, build-torch2/)
# for the GPU machine, which has torch 2.11.0+cu130 but no package registry
# and none of Debian's OpenCV / Boost / toml++ / benchmark libraries. Writes
# build-gpu/ (ignored by git; name it in the device tool's `carry`):
#   build-gpu/ovseg-build.tar.xz  build-torch2 without objects: binaries,
#                                 plugins, ctest files, embedded weights
#   build-gpu/ovseg-deps.tar.xz   the shared libraries they need that a stock
#                                 Ubuntu 24.04 image lacks (Debian 12's, which
#                                 ask for glibc <= 2.36 and GCC 12's libstdc++)
# and build-gpu-data/ (ignored too), for a call of its own:
#   build-gpu-data/shared-data.tar  ../shared/data, the tests' real data
#                                 (stored: JPEGs and PNGs do not compress)
# The device tool sends at most 64 MiB a call, the checkout included
# (~22 MiB): build + deps (~36 MiB) and the data (~33 MiB) do not fit in one,
# so a first call carries build-gpu-data (gpu_run.sh only unpacks it, outside
# the checkout, where a warm machine keeps it) and a second, at once, carries
# build-gpu. scripts/gpu_run.sh unpacks them there and runs the tests and the
# throughput checks. Not carried: glibc, libstdc++, libgcc_s, libgomp (the image's, or
# the torch wheel's own libgomp), LibTorch and CUDA (the image's torch wheel
# and its nvidia-* wheels supply the very libraries the build linked).
#
# GDAL and GDCM: Debian's libopencv_imgcodecs links them for GeoTIFF and DICOM
# input, which ovseg never reads; with their dependencies they are ~140 MB,
# more than the machine's 64 MiB upload. They are replaced by stub libraries
# of the same soname whose functions (only those imgcodecs imports) abort
# with a message naming themselves, except GDALAllRegister(), which
# imgcodecs calls while setting up its decoders (a no-op). Checked here: a
# program reading JPEG and PNG through imgcodecs with only the stubs runs,
# also with LD_BIND_NOW=1. PNG/JPEG/TIFF/WebP/EXR are the real ones.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${OVSEG_BUILD_DIR:-build-torch2}"
OUT=build-gpu
SYSLIB=/lib/x86_64-linux-gnu
[ -x "$BUILD/bin/ovseg" ] || { echo "gpu_bundle: $BUILD/bin/ovseg not built (run scripts/build_torch2.sh)" >&2; exit 1; }
rm -rf "$OUT"
mkdir -p "$OUT/deps"
DEPS="$OUT/deps"

# ELF files of the build: executables, our libraries, plugins, test plugins.
mapfile -t ELFS < <(find "$BUILD/bin" "$BUILD/lib" "$BUILD"/test_plugins* -type f \( -perm -u+x -o -name '*.so*' \) 2>/dev/null |
                    while read -r f; do head -c4 "$f" | grep -q ELF && echo "$f"; done)

# 1. Stubs for GDAL and GDCM (see above): one void function per symbol that a
# carried library imports from them.
for soname in libgdal.so.32 libgdcmMSFF.so.3.0 libgdcmDSED.so.3.0; do
  [ -e "$SYSLIB/$soname" ] || continue
  users=$(grep -l "$soname" "$SYSLIB"/libopencv_*.so.4* 2>/dev/null || true)
  [ -n "$users" ] || continue
  nm -D --defined-only "$SYSLIB/$soname" | awk '{print $3}' | sort -u >"$OUT/defined.txt"
  # shellcheck disable=SC2086
  nm -D --undefined-only $users | awk '{print $2}' | sed 's/@.*//' | sort -u >"$OUT/wanted.txt"
  {
    echo '#include <stdio.h>'
    echo '#include <stdlib.h>'
    echo "static void missing(const char* f) { fprintf(stderr, \"ovseg GPU bundle: %s called, but $soname is a stub (scripts/gpu_bundle.sh)\\n\", f); abort(); }"
    # GDALAllRegister() runs when imgcodecs sets up its decoders: a no-op.
    comm -12 "$OUT/defined.txt" "$OUT/wanted.txt" | while read -r sym; do
      case "$sym" in
        *AllRegister*) echo "void $sym(void) {}" ;;
        *) echo "void $sym(void) { missing(\"$sym\"); }" ;;
      esac
    done
  } >"$OUT/stub.c"
  gcc -shared -fPIC -O1 -Wl,-soname,"$soname" -o "$DEPS/$soname" "$OUT/stub.c"
done
rm -f "$OUT/defined.txt" "$OUT/wanted.txt" "$OUT/stub.c"

# 2. The closure of shared libraries, resolved with the stubs first so that
# GDAL's own dependencies are not pulled in.
is_excluded() {
  case "$1" in
    */torch/lib/* | */nvidia/* | /usr/local/cuda*) return 0 ;;                # the image's torch wheel
    */libc.so.* | */libm.so.* | */libdl.so.* | */librt.so.* | */libpthread.so.* | */ld-linux*) return 0 ;;
    */libutil.so.* | */libresolv.so.* | */libanl.so.* | */libnsl.so.*) return 0 ;;  # glibc's too
    */libstdc++.so.* | */libgcc_s.so.* | */libgomp.so.*) return 0 ;;           # newer on Ubuntu 24.04
    "$PWD/$BUILD"/* | "$BUILD"/*) return 0 ;;                                   # travels in the build tarball
  esac
  return 1
}
LD_LIBRARY_PATH="$PWD/$DEPS:$PWD/$BUILD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "${ELFS[@]}" 2>/dev/null |
  awk '/=> \// {print $3}' | sort -u | while read -r lib; do
    is_excluded "$lib" && continue
    case "$lib" in "$PWD/$DEPS"/*) continue ;; esac
    cp -L "$lib" "$DEPS/"
    # Also under its real file name (libfoo.so.4.6.0 -> libfoo.so.406), the
    # name the -dev packages' libfoo.so links point at (scripts/gpu_build.sh).
    real="$(basename "$(readlink -f "$lib")")"
    [ "$real" = "$(basename "$lib")" ] || ln -sfn "$(basename "$lib")" "$DEPS/$real"
  done
missing=$(LD_LIBRARY_PATH="$PWD/$DEPS:$PWD/$BUILD/lib" ldd "${ELFS[@]}" 2>/dev/null | grep "not found" | sort -u || true)
[ -z "$missing" ] || { echo "gpu_bundle: unresolved here already:"; echo "$missing"; exit 1; }
find "$DEPS" -type f -name '*.so*' -exec strip --strip-unneeded {} + 2>/dev/null || true
tar -C "$OUT" -cJf "$OUT/ovseg-deps.tar.xz" deps
rm -rf "$DEPS"

# 3. The build tree without objects, dependency logs or CMake's scratch
# files; binaries stripped in the copy (the build dir keeps its symbols).
STAGE="$OUT/stage"
mkdir -p "$STAGE"
tar -C . --exclude='*.o' --exclude='*.a' --exclude='CMakeFiles' --exclude='.ninja_*' \
    --exclude='test-cache/*' --exclude='test-home/*' --exclude='Testing' -cf - "$BUILD" | tar -C "$STAGE" -xf -
find "$STAGE/$BUILD" -type f \( -perm -u+x -o -name '*.so*' \) -print0 |
  xargs -0 -r sh -c 'for f; do head -c4 "$f" | grep -q ELF && strip --strip-unneeded "$f"; done' sh
tar -C "$STAGE" -cJf "$OUT/ovseg-build.tar.xz" "$BUILD"
rm -rf "$STAGE"

# 4. The tests' data, as it lies beside the checkout here, in its own carry
# folder (see the top).
DATA="$(cd .. && pwd)/shared/data"
DATA_OUT=build-gpu-data
rm -rf "$DATA_OUT"
mkdir -p "$DATA_OUT"
[ -d "$DATA" ] && tar -C "$(dirname "$DATA")" -cf "$DATA_OUT/shared-data.tar" data
echo "$(dirname "$DATA")" >"$DATA_OUT/shared_at"

# The path this build tree was configured at: the test binaries hold it
# (OVSEG_SOURCE_DIR, OVSEG_SHARED_DATA, the ctest files), so gpu_run.sh links
# it to wherever the tree lands there.
echo "$PWD" >"$OUT/configured_at"
echo "$(dirname "$DATA")" >"$OUT/shared_at"
"$BUILD/bin/ovseg" --version >/dev/null 2>&1 || true
du -b "$OUT"/* "$DATA_OUT"/* | awk '{printf "%-40s %7.1f MiB\n", $2, $1 / 1048576; s += $1} END {printf "%-40s %7.1f MiB\n", "total", s / 1048576}'
