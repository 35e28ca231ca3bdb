#!/usr/bin/env bash
# The LoftUp table (the README's LoftUp section): on world v2's 100
# evaluation scenes (128 px, seed 2026), MaskCLIP / NACLIP / SCLIP features of
# the embedded world CLIP with bilinear upsampling of the logits against
# LoftUp, trained here with stage 1 (pseudo ground truth from the low-res
# features refined with the world's instance masks). Prints mIoU, the
# boundary (trimap) mIoU and ms/image of each row as Markdown.
#
#   bash scripts/loftup_table.sh [DATA_DIR] [RUNS_DIR] [RESULTS_DIR]
#
# Stored eval records and finished training runs are reused on a second run.
# Needs a build (scripts/build.sh); about 4-12 minutes per upsampler on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${OVSEG_BIN:-build/bin/ovseg}"
DATA="${1:-data/world-v2}"
RUNS="${2:-runs/loftup}"
RESULTS="${3:-results/loftup}"
"$BIN" world --out "$DATA" --train 2000 --val 100 --size 128 --seed 2026 >&2
rows=()
for m in maskclip naclip sclip; do
  "$BIN" train "pipelines/loftup/${m}_loftup.toml" --dataset world --data-root "$DATA" --out "$RUNS/$m" >&2
  for kind in bilinear loftup; do
    args=()
    [ "$kind" = loftup ] && args=(--weights "$RUNS/$m/weights.safetensors")
    out=$("$BIN" eval "pipelines/loftup/${m}_${kind}.toml" "${args[@]}" --dataset world --data-root "$DATA" \
          --results "$RESULTS")
    echo "$out" >&2
    rows+=("$(echo "$out" | awk -v name="$m + $kind" '
      /^  mIoU / { miou = $2 }
      /boundary \(trimap\) mIoU/ { b = $4 }
      / ms\/image/ { ms = $1 }
      END { printf "| %s | %s | %s | %s |", name, miou, b, ms }')")
  done
done
echo "| pipeline | mIoU | boundary (trimap) mIoU | ms/image |"
echo "| :--- | ---: | ---: | ---: |"
printf '%s\n' "${rows[@]}"
