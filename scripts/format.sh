#!/usr/bin/env bash
# Formats every tracked C++ file in place with the repository's .clang-format
# (clang-format 14, Debian bookworm's; scripts/setup.sh installs it).
# Generated files are left alone (see scripts/format_files.sh).
#
#   bash scripts/format.sh            # the whole tree
#   bash scripts/format.sh FILE...    # only these files
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
command -v "$CLANG_FORMAT" >/dev/null || { echo "format: $CLANG_FORMAT not found (bash scripts/setup.sh installs it)" >&2; exit 2; }
if [ $# -gt 0 ]; then files=("$@"); else mapfile -t files < <(bash scripts/format_files.sh); fi
[ ${#files[@]} -eq 0 ] && exit 0
printf '%s\0' "${files[@]}" | xargs -0 -n 50 "$CLANG_FORMAT" -i --style=file
echo "format: ${#files[@]} files formatted"
