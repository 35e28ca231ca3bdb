#!/usr/bin/env bash
# The SCHNet table (the README's SCHNet section): SCHNet and its ablations
# (without SRM, without FTM, SAM only with the same decoder; CLIP only,
# training-free NACLIP with part-name prompts) trained and evaluated on the
# people world in LIP's layout, with the shipped world SAM and world CLIP.
# Prints mIoU, pixel accuracy, per-part IoU, training time and peak memory.
#
#   bash scripts/schnet_table.sh [DATA_DIR] [RUNS_DIR] [RESULTS_DIR] [STEPS]
#
# Stored eval records and finished training runs are reused on a second run.
# Needs a build (scripts/build.sh); a few minutes per trained row on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${OVSEG_BIN:-build/bin/ovseg}"
DATA="${1:-data/people}"
RUNS="${2:-runs/schnet}"
RESULTS="${3:-results/schnet}"
STEPS="${4:-300}"
[ -f "$DATA/lip/TrainVal_images/val_id.txt" ] || "$BIN" world --people --out "$DATA" --train 600 --val 50 --seed 0 >&2
LIP=(--dataset lip --data-root "$DATA/lip")
for p in schnet schnet_no_srm schnet_no_ftm schnet_sam_only; do
  "$BIN" train "pipelines/$p.toml" "${LIP[@]}" --out "$RUNS/$p" --set train.steps="$STEPS" --quiet >&2
  "$BIN" eval "pipelines/$p.toml" --weights "$RUNS/$p/weights.safetensors" "${LIP[@]}" --split val \
      --results "$RESULTS" >&2
done
"$BIN" eval pipelines/schnet.toml --weights "$RUNS/schnet/weights.safetensors" --set nodes.parser.flip_tta=true \
    "${LIP[@]}" --split val --results "$RESULTS" >&2
"$BIN" eval pipelines/schnet_clip_only.toml --set nodes.text.names_file="$PWD/$DATA/part_names_lip.txt" \
    "${LIP[@]}" --split val --results "$RESULTS" >&2
for m in mIoU aAcc; do
  echo "## $m"
  "$BIN" table --results "$RESULTS" --datasets LIP --metric "$m"
done
echo "## per-part IoU"
"$BIN" table --results "$RESULTS" --per-class lip
echo "## training"
echo "| run | steps | train time (s) | s/step | peak memory (MB) | first loss | final loss |"
echo "| :--- | ---: | ---: | ---: | ---: | ---: | ---: |"
for p in schnet schnet_no_srm schnet_no_ftm schnet_sam_only; do
  python3 -c "import json,sys; r=json.load(open('$RUNS/$p/run.json')); print('| $p | %d | %.0f | %.2f | %.0f | %.3f | %.3f |' % (r['steps'], r['train_seconds'], r['seconds_per_step'], r['peak_memory_mb'], r['first_loss'], r['final_loss']))"
done
