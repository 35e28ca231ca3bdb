#!/usr/bin/env bash
# Batching windows across images (README "Benchmarks", "Batching windows
# across images"): `ovseg eval` of NACLIP once per batch setting, one process
# each, printing per setting the images/s of the evaluation loop (decoding,
# windows, stitching, labels, metric: the record's per_image_ms), the
# process CPU seconds of that loop (timings.process_cpu_s, all threads: the
# figure a shared machine's load barely moves), the batches, the window
# phase's largest measured batch peak (TensorMemoryMeter) and the process's
# peak resident set (/usr/bin/time). The load average is printed before
# each row.
#   scripts/bench_batching.sh coco [SETTINGS...]   5 COCO-Object images, random ViT-B/16, one template
#   scripts/bench_batching.sh world [SETTINGS...]  100 world scenes (data/world), the shipped world CLIP
# A setting is --batch-windows[:--batch-memory-mb] (memory 0 = no cap when
# not given); 0 = one image per batch (the reference).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${OVSEG_BUILD_DIR:-build}/bin
WHICH=${1:?usage: scripts/bench_batching.sh coco|world [WINDOWS[:MB]]...}
shift
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
case "$WHICH" in
  coco)
    MODEL=${OVSEG_BENCH_MODEL:-/tmp/ovseg-random-vitb16.safetensors}
    [ -f "$MODEL" ] || "$BIN/ovseg" make-random-clip --preset ViT-B/16 --out "$MODEL"
    LIMIT=(--limit 5)
    ARGS=(--dataset coco_object --data-root /work/shared/data/coco-object-val2017-mini
          --set "nodes.clip.model=\"$MODEL\"" --set "nodes.text.model=\"$MODEL\"" --set 'nodes.text.templates="single"')
    SETTINGS=${*:-0 1 2 4 8 16 32 16:512}
    ;;
  world)
    [ -d data/world/val ] || "$BIN/ovseg" world --out data/world --train 0 --val 100 --seed 0
    LIMIT=()
    ARGS=(--dataset world --data-root data/world)
    SETTINGS=${*:-0 9 18 36 72 144 288 576 16:512}
    ;;
  *) echo "usage: scripts/bench_batching.sh coco|world [WINDOWS[:MB]]..." >&2; exit 2 ;;
esac
# One run first so that the text embeddings are cached and files are warm.
"$BIN/ovseg" eval pipelines/naclip.toml "${ARGS[@]}" --limit 1 --quiet --force --results "$TMP/warm" >/dev/null
printf '| batch windows | memory cap MB | images/s | CPU s/image | batches | window-phase peak MB | peak RSS MB | mIoU | confusion md5 | load |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n'
for s in $SETTINGS; do
  windows=${s%%:*}
  mb=0
  [ "$s" != "$windows" ] && mb=${s#*:}
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  /usr/bin/time -f '%M' -o "$TMP/rss" "$BIN/ovseg" eval pipelines/naclip.toml "${ARGS[@]}" "${LIMIT[@]}" --quiet --force \
    --results "$TMP/r$windows-$mb" --batch-windows "$windows" --batch-memory-mb "$mb" >/dev/null
  rec=$(ls "$TMP/r$windows-$mb"/*.json)
  cm=$(jq -c .confusion_matrix "$rec" | md5sum | cut -c1-8)  # the same in every row: the same labels
  jq -r --arg rss "$(tail -1 "$TMP/rss")" --arg load "$load" --arg w "$windows" --arg mb "$mb" --arg cm "$cm" \
    '"| \($w) | \($mb) | \(1000 / .timings.per_image_ms | . * 100 | round / 100) | " +
     "\(.timings.process_cpu_s / .selection.num_images | . * 1000 | round / 1000) | \(.batching.batches) | " +
     "\(.batching.window_phase_peak_mb | round) | \($rss | tonumber / 1024 | round) | \(.mIoU * 100 | round / 100) | \($cm) | \($load) |"' "$rec"
done
