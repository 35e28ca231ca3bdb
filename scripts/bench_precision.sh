#!/usr/bin/env bash
# README "Mixed precision": fp32 against bf16 (`--precision`) on the CPU.
#  1. The world (100 val scenes, world seed 0, the shipped world CLIP, the
#     world's protocol): MaskCLIP, SCLIP, ClearCLIP, NACLIP, CLIPtrase;
#     mIoU, hIoU and s/image per precision, and the differences.
#  2. COCO-Object mini, the first N images (default 5), a random ViT-B/16,
#     NACLIP (and $PRECISION_COCO_PIPELINES): s/image and the share of pixels
#     whose label is the same at fp32 and bf16 (--save-predictions).
# Records go to OUT/world and OUT/coco (stored runs are reused: delete the
# folder to measure again). Prints the load average: on a shared machine
# compare CPU seconds as well as wall seconds.
#   scripts/bench_precision.sh [OUT] [N_COCO_IMAGES]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${OVSEG_BUILD_DIR:-build}/bin
OUT=${1:-out/bench_precision}
N=${2:-5}
WORLD=${OVSEG_BENCH_WORLD:-data/world}
COCO=${OVSEG_BENCH_COCO:-/work/shared/data/coco-object-val2017-mini}
MODEL=${OVSEG_BENCH_MODEL:-/tmp/ovseg-random-vitb16.safetensors}
WORLD_PIPELINES=${PRECISION_WORLD_PIPELINES:-maskclip sclip clearclip naclip cliptrase}
COCO_PIPELINES=${PRECISION_COCO_PIPELINES:-naclip}
mkdir -p "$OUT"
[ -d "$WORLD/val" ] || "$BIN/ovseg" world --out "$WORLD" --train 0 --val 100 --seed 0
[ -f "$MODEL" ] || "$BIN/ovseg" make-random-clip --preset ViT-B/16 --out "$MODEL"

# One eval, its wall / CPU seconds and peak RSS appended to OUT/times.txt.
timed_eval() {
  local tag=$1
  shift
  echo "== $tag (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
  /usr/bin/time -o "$OUT/time.tmp" -f "%e %U %M" "$BIN/ovseg" eval "$@" --quiet
  echo "$tag $(cat "$OUT/time.tmp")" >> "$OUT/times.txt"
}

# The newest record of pipeline $2 at precision $3 in folder $1, as JSON.
record() {
  jq -s --arg p "$2" --arg q "$3" \
    '[.[] | select(.kind == "ovseg-eval-record" and .pipeline.name == $p and ((.precision // "fp32") == $q))]
     | sort_by(.date) | last' "$1"/*.json
}

: > "$OUT/times.txt"
for p in $WORLD_PIPELINES; do
  for q in fp32 bf16; do
    timed_eval "world $p $q" "pipelines/$p.toml" --dataset world --data-root "$WORLD" --results "$OUT/world" \
      --precision "$q"
  done
done
for p in $COCO_PIPELINES; do
  for q in fp32 bf16; do
    timed_eval "coco $p $q" "pipelines/$p.toml" --dataset coco_object --data-root "$COCO" --limit "$N" \
      --results "$OUT/coco" --precision "$q" --set "nodes.clip.model=\"$MODEL\"" --set "nodes.text.model=\"$MODEL\"" \
      --save-predictions "$OUT/coco_pred/$p/$q"
  done
done

echo
echo "World (100 val scenes, world seed 0, shipped world CLIP), fp32 vs bf16:"
echo "| pipeline | mIoU fp32 | mIoU bf16 | Δ mIoU | hIoU fp32 | hIoU bf16 | Δ hIoU | s/image fp32 | s/image bf16 |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for p in $WORLD_PIPELINES; do
  a=$(record "$OUT/world" "$p" fp32)
  b=$(record "$OUT/world" "$p" bf16)
  jq -rn --arg p "$p" --argjson a "$a" --argjson b "$b" \
    '"| \($p) | \($a.mIoU*10|round/10) | \($b.mIoU*10|round/10) | \(($b.mIoU-$a.mIoU)*100|round/100) | \($a.zero_shot.hIoU*10|round/10) | \($b.zero_shot.hIoU*10|round/10) | \(($b.zero_shot.hIoU-$a.zero_shot.hIoU)*100|round/100) | \($a.timings.per_image_ms/10|round/100) | \($b.timings.per_image_ms/10|round/100) |"'
done
echo
echo "COCO-Object mini, first $N images, random ViT-B/16 (labels are not meaningful, agreement and speed are):"
echo "| pipeline | s/image fp32 | s/image bf16 | pixels with equal labels |"
echo "|---|---:|---:|---:|"
for p in $COCO_PIPELINES; do
  a=$(record "$OUT/coco" "$p" fp32)
  b=$(record "$OUT/coco" "$p" bf16)
  agree=$(python3 scripts/label_agreement.py "$OUT/coco_pred/$p/fp32" "$OUT/coco_pred/$p/bf16" | tail -n 1)
  jq -rn --arg p "$p" --arg agree "${agree#*: }" --argjson a "$a" --argjson b "$b" \
    '"| \($p) | \($a.timings.per_image_ms/10|round/100) | \($b.timings.per_image_ms/10|round/100) | \($agree) |"'
done
echo
echo "wall s, user CPU s, peak RSS KB per eval (this invocation; a stored record reruns nothing):"
cat "$OUT/times.txt"
