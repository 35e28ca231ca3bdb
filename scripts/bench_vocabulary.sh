#!/usr/bin/env bash
# ovseg's side of the vocabulary-cost table (README "Cost as the vocabulary
# grows"): NACLIP, one template, a random ViT-B/16, the first 5 COCO images
# (sorted names) of the shared COCO-Object mini set, K = 21 / 81 / 150 / 847,
# one process per K (peak RSS is per process). Prints the load average before
# each run: on a shared machine compare CPU seconds as well as wall seconds.
#   scripts/bench_vocabulary.sh [IMAGES_DIR] [N_IMAGES]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${OVSEG_BUILD_DIR:-build}/bin
IMAGES=${1:-/work/shared/data/coco-object-val2017-mini/images}
N=${2:-5}
NAMES=host/harness/class_names
MODEL=${OVSEG_BENCH_MODEL:-/tmp/ovseg-random-vitb16.safetensors}
[ -f "$MODEL" ] || "$BIN/ovseg" make-random-clip --preset ViT-B/16 --out "$MODEL"
# K, class list, prob_thd: VOC21 and COCO-Object with SCLIP's background word
# list and NACLIP's prob_thd 0.1 (their configs), ADE-150, 847 generated names.
for row in "21 $NAMES/cls_voc21.txt 0.1" "81 $NAMES/cls_coco_object.txt 0.1" \
           "150 $NAMES/cls_ade20k.txt 0" "847 847 0"; do
  set -- $row
  echo "== K=$1 (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
  "$BIN/bench_vocabulary" --model "$MODEL" --classes "$2" --prob-thd "$3" --images "$IMAGES" --n "$N"
done
