#!/usr/bin/env bash
# The main job on the embedded default: installs packages, builds, and runs
# `ovseg demo`: every training-free technique (NACLIP also with PAMR and
# DenseCRF) and the trained Q/V fine-tune on the procedural world's
# evaluation scenes with the embedded CLIP, through the real harness, and the
# world SAM's single-click table; prints the comparison table (seen / unseen /
# hIoU on the default zero-shot split) and writes the HTML report. Then segments the bundled example image with the weight-free
# colour-prototype pipeline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
OUT="${OVSEG_DEMO_OUT:-out/demo}"
./build/bin/ovseg demo --out "$OUT"
./build/bin/ovseg run pipelines/colour_prototypes.toml --image pipelines/examples/beach.png --out "$OUT/example" >/dev/null
echo "open $OUT/report.html for the heat map, plots, the methods side by side on the same images, and SAM"
