#!/usr/bin/env bash
# The C++ files scripts/format.sh and scripts/check_format.sh work on: every
# tracked .cpp/.hpp/.h except generated ones and third-party copies.
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files -- '*.cpp' '*.hpp' '*.h' |
  grep -v -e '^host/models/src/clip_tokenizer_tables\.cpp$'
