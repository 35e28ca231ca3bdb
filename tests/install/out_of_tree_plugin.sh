#!/usr/bin/env bash
# The installed package end to end: installs this build to a temporary
# prefix, scaffolds a plugin with the installed `ovseg new-plugin`, builds it
# outside the tree with find_package(ovseg), and runs the project's generated
# tests (the plugin loaded through the SDK entry points and its stage run;
# listed by the installed `ovseg plugins`; run inside a pipeline by the
# installed `ovseg run`); then the same for a `--kind clip-refinement`
# scaffold (a CLIP plugin on the exported ovseg::clip_blocks).
# Usage: out_of_tree_plugin.sh BUILD_DIR
set -euo pipefail
build=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ovseg_out_of_tree.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
test -f "$tmp/prefix/lib/cmake/ovseg/ovsegConfig.cmake"
test -f "$tmp/prefix/include/ovseg/sdk.hpp"

"$tmp/prefix/bin/ovseg" new-plugin my_mix --kind refinement --out "$tmp/src"
# The scaffold refuses to overwrite and rejects bad names and kinds.
if "$tmp/prefix/bin/ovseg" new-plugin my_mix --out "$tmp/src" 2>/dev/null; then exit 1; fi
if "$tmp/prefix/bin/ovseg" new-plugin My-Mix --out "$tmp/src" 2>/dev/null; then exit 1; fi
if "$tmp/prefix/bin/ovseg" new-plugin other --kind refinment --out "$tmp/src" 2>/dev/null; then exit 1; fi

generator=()
if command -v ninja > /dev/null; then generator=(-G Ninja); fi
# The LibTorch the build under test was configured with, as a plugin author
# outside the tree would pass it: for scripts/build_torch2.sh the wheel's
# configs and libraries (else Debian's are found: two c10s in one process)
# and its libstdc++-first linker flags; for the Debian build what it found.
same_libtorch=()
for var in Torch_DIR Caffe2_DIR TORCH_LIBRARY c10_LIBRARY CMAKE_EXE_LINKER_FLAGS CMAKE_SHARED_LINKER_FLAGS \
  CMAKE_MODULE_LINKER_FLAGS CMAKE_CUDA_COMPILER; do
  value=$(sed -n "s/^$var:[A-Z]*=//p" "$build/CMakeCache.txt")
  if [ -n "$value" ]; then same_libtorch+=("-D$var=$value"); fi
done
cmake -S "$tmp/src/my_mix" -B "$tmp/build" "${generator[@]}" "${same_libtorch[@]}" -DCMAKE_PREFIX_PATH="$tmp/prefix" > "$tmp/configure.log" ||
  { cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/build"
ctest --test-dir "$tmp/build" --output-on-failure

# A CLIP-using plugin out of the tree: `--kind clip-refinement` links
# ovseg::clip_blocks (the exported CLIP libraries); its generated tests run
# the stage on a random CLIP against the library's k-k block, and a pipeline
# on the installed world CLIP (tokenizer vocabulary from the installed data
# folder, never the source tree).
"$tmp/prefix/bin/ovseg" new-plugin my_attention --kind clip-refinement --out "$tmp/src"
cmake -S "$tmp/src/my_attention" -B "$tmp/clip_build" "${generator[@]}" "${same_libtorch[@]}" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  > "$tmp/clip_configure.log" || { cat "$tmp/clip_configure.log"; exit 1; }
cmake --build "$tmp/clip_build"
env -u OVSEG_CLIP_BPE -u OVSEG_DATA_DIR ctest --test-dir "$tmp/clip_build" --output-on-failure
echo "out-of-tree plugins: built against $tmp/prefix, loaded and run (refinement and clip-refinement scaffolds)"
