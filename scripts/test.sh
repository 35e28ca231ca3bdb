#!/usr/bin/env bash
# The test command: installs packages, builds, runs the whole doctest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd "${OVSEG_BUILD_DIR:-build}"
ctest --output-on-failure -j 2
