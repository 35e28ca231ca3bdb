#!/usr/bin/env bash
# Seed 003's question (README "The people world"): how well does each
# training-free open-vocabulary method segment "person", and do prompt sets
# help? Every method (vanilla, MaskCLIP, SCLIP, ClearCLIP, NACLIP, CLIPtrase,
# NACLIP + PAMR) x three synonym sets x one or 80 templates
# (pipelines/sweeps/person_*.toml), on the object-level people world's val
# split (100 people scenes + 100 without people, 128 px) with the
# people-aware world CLIP, under the world's protocol (64 px windows,
# stride 32, synonyms averaged, no background threshold). Writes to WORK_DIR:
# table.md (mIoU / seen / unseen / hIoU of the whole 31-class
# vocabulary), person_focus.md (IoU, precision, recall, missed as / taken
# from) and person_focus.html (the focus report with the worst images).
#
#   bash scripts/person_table.sh [DATA_DIR] [WORK_DIR]
#
# Trains the CLIP first when DATA_DIR has none (scripts/people_clip.sh).
# Stored records are reused on a second run. About 10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${OVSEG_BIN:-build/bin/ovseg}"
DATA="${1:-data/people-objects}"
WORK="${2:-work_dirs/person}"
[ -f "$DATA/people-clip.safetensors" ] || bash scripts/people_clip.sh "$DATA"
CLIP="$(realpath "$DATA/people-clip.safetensors")"
MODEL=(--set "nodes.clip.model=\"$CLIP\"" --set "nodes.text.model=\"$CLIP\"")
for m in vanilla maskclip sclip clearclip naclip cliptrase naclip_pamr; do
  extra=()
  [ "$m" = naclip_pamr ] && extra=(--set "nodes.pamr.dilations=[1, 2]")  # PAMR at 128 px, as `ovseg demo`
  "$BIN" sweep "pipelines/sweeps/person_$m.toml" --dataset world --data-root "$DATA/world" \
      "${MODEL[@]}" "${extra[@]}" --work-dir "$WORK" --quiet >&2
done
"$BIN" table --work-dir "$WORK" --datasets world --out "$WORK/table.md" >&2
"$BIN" table --work-dir "$WORK" --focus person --datasets world --top 3 > "$WORK/person_focus.md"
"$BIN" table --work-dir "$WORK" --focus person --datasets world --format html --images worst:person \
    --out "$WORK/person_focus.html" >&2
cat "$WORK/table.md" "$WORK/person_focus.md"
