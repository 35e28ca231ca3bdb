#!/usr/bin/env bash
# The main job on the embedded default: installs packages, builds, and runs
# `ovseg demo`: every training-free technique (with and without PAMR and
# DenseCRF) on the procedural world's evaluation scenes with the embedded
# CLIP, through the real harness; prints the comparison table and writes the
# HTML report. Then segments the bundled example image with the weight-free
# colour-prototype pipeline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
OUT="${OVSEG_DEMO_OUT:-out/demo}"
./build/bin/ovseg demo --out "$OUT"
./build/bin/ovseg run pipelines/colour_prototypes.toml --image pipelines/examples/beach.png --out "$OUT/example" >/dev/null
echo "open $OUT/report.html for the table, per-class bars and image | truth | prediction strips"
