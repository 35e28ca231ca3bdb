#!/usr/bin/env bash
# The installed package end to end: installs this build to a temporary
# prefix, scaffolds a plugin with the installed `ovseg new-plugin`, builds it
# outside the tree with find_package(ovseg), and runs the project's generated
# tests (the plugin loaded through the SDK entry points and its stage run;
# listed by the installed `ovseg plugins`; run inside a pipeline by the
# installed `ovseg run`); then builds the README's CLIP plugin example
# (plugins/examples/hybrid_attention) the same way and runs it.
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
cmake -S "$tmp/src/my_mix" -B "$tmp/build" "${generator[@]}" -DCMAKE_PREFIX_PATH="$tmp/prefix" > "$tmp/configure.log" ||
  { cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/build"
ctest --test-dir "$tmp/build" --output-on-failure

# A CLIP-using plugin out of the tree: the README's example, its one-line
# CMakeLists unchanged (LIBS ovseg::clip_blocks) after find_package(ovseg),
# run by the installed `ovseg` on the installed world CLIP; its tokenizer
# vocabulary comes from the installed data folder.
example=$(cd "$(dirname "$0")/../../plugins/examples/hybrid_attention" && pwd)
mkdir -p "$tmp/clip_src"
cp "$example/hybrid_attention.cpp" "$tmp/clip_src/"
{ printf 'cmake_minimum_required(VERSION 3.22)\nproject(hybrid_attention LANGUAGES CXX)\n'
  printf 'set(CMAKE_CXX_STANDARD 17)\nfind_package(ovseg REQUIRED)\n'
  cat "$example/CMakeLists.txt"; } > "$tmp/clip_src/CMakeLists.txt"
cmake -S "$tmp/clip_src" -B "$tmp/clip_build" "${generator[@]}" -DCMAKE_PREFIX_PATH="$tmp/prefix" > "$tmp/clip_configure.log" ||
  { cat "$tmp/clip_configure.log"; exit 1; }
cmake --build "$tmp/clip_build"
rm "$tmp/prefix/lib/ovseg/plugins/libovseg_plugin_hybrid_attention.so"  # the installed copy of the same plugin
world_clip="$tmp/prefix/share/ovseg/host/models/embedded/world-clip.safetensors"
env -u OVSEG_CLIP_BPE -u OVSEG_DATA_DIR "$tmp/prefix/bin/ovseg" run "$example/hybrid_attention.toml" \
  --image "$tmp/prefix/share/ovseg/examples/beach.png" --out "$tmp/clip_out" --plugin-dir "$tmp/clip_build" \
  --set "nodes.clip.model=\"$world_clip\"" --set "nodes.text.model=\"$world_clip\"" \
  --set 'nodes.text.class_names=["sky","sea","sand","person"]' > "$tmp/clip_run.log" ||
  { cat "$tmp/clip_run.log"; exit 1; }
grep -q "wrote .*labels.png" "$tmp/clip_run.log"
echo "out-of-tree plugins: built against $tmp/prefix, loaded and run (scaffold and CLIP example)"
