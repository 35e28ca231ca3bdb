#!/usr/bin/env bash
# The SCHNet table (the README's SCHNet section): SCHNet and its ablations
# (without SRM, without FTM, SAM only with the same decoder; CLIP only,
# training-free NACLIP with part-name prompts) trained and evaluated on the
# people world in LIP's layout, with the shipped world SAM and world CLIP.
# Prints mIoU, pixel accuracy, per-part IoU, training time (wall and CPU)
# and peak memory.
#
#   bash scripts/schnet_table.sh [DATA_DIR] [RUNS_DIR] [RESULTS_DIR] [STEPS]
#   SCHNET_EXTRA=1 bash scripts/schnet_table.sh ...   # + the extra rows below
#
# Every row trains with the pipelines' own recipe (pipelines/schnet.toml
# [train]; STEPS overrides its step count for all of them). Extra row, same
# recipe: SCHNet without the decoder's detail branch (detail_channels = 0).
# Stored eval records and finished training runs are reused on a second run.
# Needs a build (scripts/build.sh); a few minutes per trained row on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${OVSEG_BIN:-build/bin/ovseg}"
DATA="${1:-data/people}"
RUNS="${2:-runs/schnet}"
RESULTS="${3:-results/schnet}"
STEPS="${4:-1000}"
[ -f "$DATA/lip/TrainVal_images/val_id.txt" ] || "$BIN" world --people --out "$DATA" --train 600 --val 50 --seed 0 >&2
LIP=(--dataset lip --data-root "$DATA/lip")

# A row: run folder name, pipeline, then its --set overrides (train and eval alike).
ROWS=("schnet schnet" "schnet_no_srm schnet_no_srm" "schnet_no_ftm schnet_no_ftm" "schnet_sam_only schnet_sam_only")
if [ "${SCHNET_EXTRA:-0}" = 1 ]; then
  ROWS+=("schnet_no_detail schnet --set pipeline.name=schnet-no-detail --set nodes.parser.detail_channels=0")
fi

TIMEFORMAT='%U %S'
for row in "${ROWS[@]}"; do
  read -r -a a <<< "$row"
  run="${a[0]}" p="${a[1]}" sets=("${a[@]:2}")
  if [ ! -f "$RUNS/$run/weights.safetensors" ]; then
    mkdir -p "$RUNS"
    # CPU seconds (user + system) next to run.json's wall time: the machine may be shared.
    { time "$BIN" train "pipelines/$p.toml" "${LIP[@]}" --out "$RUNS/$run" --set train.steps="$STEPS" "${sets[@]}" \
        --quiet >&3 2>&3; } 3>&2 2> "$RUNS/$run.cpu"
    mv "$RUNS/$run.cpu" "$RUNS/$run/cpu_seconds.txt"
  fi
  "$BIN" eval "pipelines/$p.toml" --weights "$RUNS/$run/weights.safetensors" "${sets[@]}" "${LIP[@]}" --split val \
      --results "$RESULTS" >&2
done
"$BIN" eval pipelines/schnet.toml --weights "$RUNS/schnet/weights.safetensors" --set nodes.parser.flip_tta=true \
    --set pipeline.name=schnet-flip-tta "${LIP[@]}" --split val --results "$RESULTS" >&2
"$BIN" eval pipelines/schnet_clip_only.toml --set nodes.text.names_file="$PWD/$DATA/part_names_lip.txt" \
    "${LIP[@]}" --split val --results "$RESULTS" >&2
for m in mIoU aAcc mAcc fwIoU; do
  echo "## $m"
  "$BIN" table --results "$RESULTS" --datasets LIP --metric "$m"
done
echo "## per-part IoU"
"$BIN" table --results "$RESULTS" --per-class lip
echo "## training"
echo "| run | steps | train time (s) | CPU time (s) | s/step | peak memory (MB) | first loss | final loss |"
echo "| :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for row in "${ROWS[@]}"; do
  run="${row%% *}"
  cpu=$(awk 'END {printf "%.0f", $1 + $2}' "$RUNS/$run/cpu_seconds.txt" 2>/dev/null || echo "-")
  python3 -c "import json,sys; r=json.load(open('$RUNS/$run/run.json')); print('| $run | %d | %.0f | $cpu | %.2f | %.0f | %.3f | %.3f |' % (r['steps'], r['train_seconds'], r['seconds_per_step'], r['peak_memory_mb'], r['first_loss'], r['final_loss']))"
done
