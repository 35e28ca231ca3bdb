#!/usr/bin/env bash
# The main job on the embedded default: installs packages, builds, and runs
# the bundled example pipeline on the bundled example image.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
OUT="${OVSEG_DEMO_OUT:-out/example}"
./build/bin/ovseg run pipelines/colour_prototypes.toml --image pipelines/examples/beach.png --out "$OUT"
echo "open $OUT/overlay.png to see the segmentation"
