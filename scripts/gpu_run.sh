#!/usr/bin/env bash
# On the GPU machine (torch 2.11.0+cu130 in its python3, no registry): runs
# the whole test suite of the LibTorch 2.11 / CUDA build and the throughput
# checks, with what scripts/gpu_bundle.sh packed into build-gpu/ (carry it).
# Results go to $OUT (default out/gpu): summary.txt, ctest.log,
# throughput.log and record-*.json (eval records: device block, timings). Falls back to building there
# (scripts/gpu_build.sh) when the carried binaries cannot load.
#
#   device tool:  two calls, the second at once (a warm machine keeps what
#                 the first unpacked; 64 MiB a call with the checkout):
#                 1. command "bash scripts/gpu_run.sh", carry ["build-gpu-data"]
#                    (unpacks the tests' data, then stops)
#                 2. command "bash scripts/gpu_run.sh", carry ["build-gpu"]
#   here (no GPU): OVSEG_GPU_RUN_DRY=1 OVSEG_PYTHON=/work/.venvs/torch211/bin/python3 \
#                  bash scripts/gpu_run.sh   runs the same steps on the CPU
#                  against this machine's build-torch2 (OVSEG_GPU_SKIP_TESTS=1:
#                  no ctest, which `ctest --test-dir build-torch2` covers here)
set -uo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
OUT="${OUT:-$REPO/out/gpu}"
mkdir -p "$OUT"
BUILD=build-torch2
BUNDLE="$REPO/build-gpu"
DATA_BUNDLE="$REPO/build-gpu-data"
log() { echo "gpu_run: $*" | tee -a "$OUT/summary.txt"; }
START=$(date +%s)

PY="${OVSEG_PYTHON:-python3}"
TORCH_DIR="$("$PY" -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null)"
[ -n "$TORCH_DIR" ] || { log "no python3 with torch here (set OVSEG_PYTHON)"; exit 1; }
SITE="$(dirname "$TORCH_DIR")"
log "torch $("$PY" -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())' 2>/dev/null) at $TORCH_DIR"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >>"$OUT/summary.txt" 2>&1 || log "no nvidia-smi"

if [ -z "${OVSEG_GPU_RUN_DRY:-}" ] && [ -f "$DATA_BUNDLE/shared-data.tar" ]; then
  # The data call: unpacked beside where the build expects the checkout.
  DATA_AT="$(cat "$DATA_BUNDLE/shared_at")"
  if [ ! -d "$DATA_AT/data" ]; then
    mkdir -p "$DATA_AT" && tar -C "$DATA_AT" -xf "$DATA_BUNDLE/shared-data.tar" || { log "cannot unpack the data at $DATA_AT"; exit 1; }
  fi
  log "data at $DATA_AT/data ($(find "$DATA_AT/data" -type f | wc -l) files)"
  if [ ! -f "$BUNDLE/ovseg-build.tar.xz" ]; then
    log "data call done: call again now carrying build-gpu"
    exit 0
  fi
fi

if [ -z "${OVSEG_GPU_RUN_DRY:-}" ]; then
  [ -f "$BUNDLE/ovseg-build.tar.xz" ] || { log "no $BUNDLE/ovseg-build.tar.xz: run scripts/gpu_bundle.sh here first and carry build-gpu"; exit 1; }
  CONFIGURED_AT="$(cat "$BUNDLE/configured_at")"
  SHARED_AT="$(cat "$BUNDLE/shared_at")"
  # The test binaries and ctest files name the paths they were configured
  # at; the same paths are made to exist here (links into this checkout).
  if [ "$CONFIGURED_AT" != "$REPO" ]; then
    mkdir -p "$(dirname "$CONFIGURED_AT")"
    [ -e "$CONFIGURED_AT" ] && [ ! -L "$CONFIGURED_AT" ] && { log "$CONFIGURED_AT exists and is not ours"; exit 1; }
    ln -sfn "$REPO" "$CONFIGURED_AT"
  fi
  tar -C "$REPO" -xJf "$BUNDLE/ovseg-build.tar.xz"
  mkdir -p "$BUNDLE/unpacked" && tar -C "$BUNDLE/unpacked" -xJf "$BUNDLE/ovseg-deps.tar.xz"
  [ -d "$SHARED_AT/data" ] ||
    log "no $SHARED_AT/data: the data call (carry build-gpu-data) has not run on this machine; the tests reading real data will fail"
  DEPS="$BUNDLE/unpacked/deps"
  # The build linked the torch wheel at this machine's venv path; that path
  # is linked to the image's site-packages, so RUNPATHs and the wheel's own
  # $ORIGIN/../../nvidia/... RPATHs resolve to the image's identical wheel.
  LINKED_SITE="$(grep -o '/[^ :;]*/site-packages' "$REPO/$BUILD/CMakeCache.txt" | head -1)"
  if [ -n "$LINKED_SITE" ] && [ ! -e "$LINKED_SITE" ]; then
    mkdir -p "$(dirname "$LINKED_SITE")" && ln -sfn "$SITE" "$LINKED_SITE"
  fi
else
  DEPS=""
  log "dry run: this machine's $BUILD, CUDA as this machine has it"
fi
export LD_LIBRARY_PATH="${DEPS:+$DEPS:}$TORCH_DIR/lib:$SITE/nvidia/cu13/lib:$SITE/nvidia/cudnn/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

missing="$(ldd "$REPO/$BUILD/bin/ovseg" "$REPO/$BUILD"/lib/ovseg/plugins/*.so 2>&1 | grep 'not found' | sort -u)"
if [ -n "$missing" ]; then
  log "carried binaries cannot load here:"
  echo "$missing" | tee -a "$OUT/summary.txt"
  log "falling back to building here: scripts/gpu_build.sh"
  bash scripts/gpu_build.sh >"$OUT/gpu_build.log" 2>&1 || { log "gpu_build.sh failed (tail of gpu_build.log follows)"; tail -30 "$OUT/gpu_build.log"; exit 1; }
fi

OVSEG="$REPO/$BUILD/bin/ovseg"
"$OVSEG" --help >/dev/null 2>&1 || log "ovseg does not start"

# 1. The whole suite. CUDA cases that skip without a GPU run here.
CTEST_RC=0
if [ -z "${OVSEG_GPU_SKIP_TESTS:-}" ]; then
  T0=$(date +%s)
  ctest --test-dir "$REPO/$BUILD" -j "${OVSEG_GPU_JOBS:-8}" --output-on-failure --timeout 600 >"$OUT/ctest.log" 2>&1
  CTEST_RC=$?
  log "ctest rc=$CTEST_RC in $(($(date +%s) - T0)) s: $(grep -E 'tests passed|tests failed' "$OUT/ctest.log" | tail -1)"
  grep -E '^\s+[0-9]+ - ' "$OUT/ctest.log" | head -40 >>"$OUT/summary.txt"
fi

# 2. Throughput, each row once on the default device (cuda when visible) and
# once on the CPU; every record keeps per-node timings and its device block.
#   world:  NACLIP with the shipped world CLIP on 100 generated val scenes
#   coco:   NACLIP with a random ViT-B/16 (fp32) on the first COCO-Object
#           images, the protocol of the CPU side-by-side (README Benchmarks)
DATA="$(grep -o 'OVSEG_SHARED_DATA="[^"]*' "$REPO/$BUILD/build.ninja" 2>/dev/null | head -1 | cut -d'"' -f2)"
[ -n "$DATA" ] || DATA="$(cd "$REPO/.." && pwd)/shared/data"
: >"$OUT/throughput.log"
WORK="$(mktemp -d)"
"$OVSEG" world --out "$WORK/world" --train 0 --val 100 --seed 0 >>"$OUT/throughput.log" 2>&1
"$OVSEG" make-random-clip --preset ViT-B/16 --out "$WORK/vitb16.safetensors" >>"$OUT/throughput.log" 2>&1
row() {  # NAME DEVICE-ARGS... -- EVAL-ARGS...
  local name=$1; shift
  local dev=()
  while [ "$1" != -- ]; do dev+=("$1"); shift; done
  shift
  local t0 t1 rc rec
  t0=$(date +%s.%N)
  "$OVSEG" eval pipelines/naclip.toml "$@" --results "$WORK/runs-$name" --force --quiet "${dev[@]}" >>"$OUT/throughput.log" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  rec="$(find "$WORK/runs-$name" -name '*.json' 2>/dev/null | head -1)"
  log "$name: rc=$rc, $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s wall"
  [ -n "$rec" ] && cp "$rec" "$OUT/record-$name.json"
}
W=(--dataset world --data-root "$WORK/world")
C=(--dataset coco_object --data-root "$DATA/coco-object-val2017-mini" --limit "${OVSEG_GPU_IMAGES:-8}"
   --set "nodes.clip.model=$WORK/vitb16.safetensors" --set "nodes.text.model=$WORK/vitb16.safetensors")
row world-default -- "${W[@]}"
row world-cpu --device cpu -- "${W[@]}"
row coco-vitb16-default -- "${C[@]}"
row coco-vitb16-cpu --device cpu -- "${C[@]}"
# 3. Benchmarks (CPU-side kernels; on the GPU machine's 16 cores).
for b in bench_clip bench_sam; do
  [ -x "$REPO/$BUILD/bin/$b" ] && timeout 300 "$REPO/$BUILD/bin/$b" --benchmark_min_time=0.1 >>"$OUT/throughput.log" 2>&1
done
log "finished in $(($(date +%s) - START)) s"
exit $CTEST_RC
