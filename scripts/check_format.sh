#!/usr/bin/env bash
# Exits 1 and lists the files that scripts/format.sh would change (with the
# number of lines each), 0 when every tracked C++ file is formatted. For CI:
#   bash scripts/check_format.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
command -v "$CLANG_FORMAT" >/dev/null || { echo "check_format: $CLANG_FORMAT not found (bash scripts/setup.sh installs it)" >&2; exit 2; }
if [ $# -gt 0 ]; then files=("$@"); else mapfile -t files < <(bash scripts/format_files.sh); fi
bad=0
for f in "${files[@]}"; do
  n=$("$CLANG_FORMAT" --style=file "$f" | diff "$f" - | grep -c '^<' || true)
  if [ "$n" -gt 0 ]; then
    echo "$f: $n lines differ"
    bad=$((bad + 1))
  fi
done
if [ $bad -gt 0 ]; then
  echo "check_format: $bad of ${#files[@]} files are not formatted; run bash scripts/format.sh" >&2
  exit 1
fi
echo "check_format: all ${#files[@]} files formatted"
