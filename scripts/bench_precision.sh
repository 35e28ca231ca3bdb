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

# The numbers of the newest record of pipeline $2 at precision $3 in folder
# $1, as JSON: {"mIoU", "hIoU", "ms"} (ms per image).
record() {
  jq -s --arg p "$2" --arg q "$3" \
    '[.[] | select(.kind == "ovseg-eval-record" and .pipeline.name == $p and ((.precision // "fp32") == $q))]
     | sort_by(.date) | last | {mIoU, hIoU: .zero_shot.hIoU, ms: .timings.per_image_ms}' "$1"/*.json
}

: > "$OUT/times.txt"
for p in $WORLD_PIPELINES; do
  for q in fp32 bf16; do
    timed_eval "world $p $q" "pipelines/$p.toml" --dataset world --data-root "$WORLD" --results "$OUT/world" \
      --precision "$q" --save-predictions "$OUT/world_pred/$p/$q"
  done
done
# prob_thd 0: with random weights no pixel reaches the authors' COCO-Object
# threshold (0.1 over 81 classes; measured: every pixel background at both
# precisions), which would make the agreement trivially 100%.
for p in $COCO_PIPELINES; do
  for q in fp32 bf16; do
    timed_eval "coco $p $q" "pipelines/$p.toml" --dataset coco_object --data-root "$COCO" --limit "$N" \
      --results "$OUT/coco" --precision "$q" --set "nodes.clip.model=\"$MODEL\"" --set "nodes.text.model=\"$MODEL\"" \
      --set protocol.prob_thd=0.0 --save-predictions "$OUT/coco_pred/$p/$q"
  done
done

echo
# "%.Nf" in jq: fixed(N).
FIXED='def fixed(d): (. * pow(10; d) | round | if . == 0 then 0 else . end | tostring) as $s | ($s | ltrimstr("-")) as $u
  | (if ($u | length) <= d then ("0" * (d + 1 - ($u | length))) + $u else $u end) as $p
  | (if $s | startswith("-") then "-" else "" end) + $p[:($p | length) - d] + (if d > 0 then "." + $p[($p | length) - d:] else "" end);'
# The last line of label_agreement.py: "NN.NN%".
agreement() { python3 scripts/label_agreement.py "$1" "$2" | tail -n 1 | sed 's/.*: \([0-9.]*%\).*/\1/'; }

echo "World (100 val scenes, world seed 0, shipped world CLIP), fp32 vs bf16:"
echo "| pipeline | mIoU fp32 | mIoU bf16 | Δ mIoU | hIoU fp32 | hIoU bf16 | Δ hIoU | equal labels | ms/image fp32 | ms/image bf16 |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for p in $WORLD_PIPELINES; do
  a=$(record "$OUT/world" "$p" fp32)
  b=$(record "$OUT/world" "$p" bf16)
  agree=$(agreement "$OUT/world_pred/$p/fp32" "$OUT/world_pred/$p/bf16")
  jq -rn --arg p "$p" --arg agree "$agree" --argjson a "$a" --argjson b "$b" "$FIXED"'
    "| \($p) | \($a.mIoU|fixed(2)) | \($b.mIoU|fixed(2)) | \($b.mIoU-$a.mIoU|fixed(2)) | \($a.hIoU|fixed(2)) | \($b.hIoU|fixed(2)) | \($b.hIoU-$a.hIoU|fixed(2)) | \($agree) | \($a.ms|fixed(1)) | \($b.ms|fixed(1)) |"'
done
echo
echo "COCO-Object mini, first $N images, random ViT-B/16, prob_thd 0 (mIoU is not meaningful; agreement and speed are):"
echo "| pipeline | s/image fp32 | s/image bf16 | speed-up | equal labels |"
echo "|---|---:|---:|---:|---:|"
for p in $COCO_PIPELINES; do
  a=$(record "$OUT/coco" "$p" fp32)
  b=$(record "$OUT/coco" "$p" bf16)
  agree=$(agreement "$OUT/coco_pred/$p/fp32" "$OUT/coco_pred/$p/bf16")
  jq -rn --arg p "$p" --arg agree "$agree" --argjson a "$a" --argjson b "$b" "$FIXED"'
    "| \($p) | \($a.ms/1000|fixed(2)) | \($b.ms/1000|fixed(2)) | \($a.ms/$b.ms|fixed(2))x | \($agree) |"'
done
echo
echo "wall s, user CPU s, peak RSS KB per eval (this invocation; a stored record reruns nothing):"
cat "$OUT/times.txt"
