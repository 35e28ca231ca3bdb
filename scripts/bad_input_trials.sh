#!/usr/bin/env bash
# Bad-input trials (issue 12): feeds the CLI broken files, impossible values
# and hostile environments, and classifies what happens. For each case it
# prints: verdict, exit code, seconds, case name, first line of stderr.
#
# Verdicts
#   clear   exited non-zero with a message and no raw library text (wanted for bad input)
#   ok      exited 0 where the case is allowed to succeed (a warning may be printed)
#   CRASH   killed by a signal (segfault, abort, SIGKILL from the OOM killer)
#   HANG    still running after the timeout (TRIAL_TIMEOUT, default 120 s)
#   RAW     output holds raw library text: json.exception, c10::, filesystem error,
#           std::, what():, Assertion, bad_alloc, terminate called, frame #
#   SILENT  exited 0 on input that must be refused
#   LOSS    a run killed with SIGKILL and rerun stored a record that differs from
#           an uninterrupted run's
# A summary counts the cases per category and verdict; the script exits 1 when
# any case is CRASH, HANG, RAW, SILENT or LOSS.
#
#   bash scripts/bad_input_trials.sh            (after scripts/build.sh; ~3 min on 2 cores)
#   OVSEG=build/bin/ovseg TRIAL_TIMEOUT=60 bash scripts/bad_input_trials.sh
set -u
cd "$(dirname "$0")/.."
OVSEG=${OVSEG:-$PWD/build/bin/ovseg}
TIMEOUT=${TRIAL_TIMEOUT:-120}
[ -x "$OVSEG" ] || { echo "bad_input_trials: $OVSEG not found; build first (scripts/build.sh)" >&2; exit 2; }
T=$(mktemp -d "${TMPDIR:-/tmp}/ovseg_trials.XXXXXX")
trap 'chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
export OVSEG_CACHE_DIR="$T/cache"
RAW='json\.exception|c10::|filesystem error|std::|what\(\):|Assertion|bad_alloc|terminate called|frame #'

declare -A COUNT
FAILED=0
category=""

# trial NAME EXPECT CMD...  (EXPECT: error = must be refused, ok = may succeed)
trial() {
  local name=$1 expect=$2
  shift 2
  local start end rc verdict first
  start=$(date +%s.%N)
  # In a subshell, so that bash prints no "Killed" line of its own.
  (timeout -s KILL "$TIMEOUT" "$@" >"$T/out" 2>"$T/err" </dev/null)
  rc=$?
  end=$(date +%s.%N)
  # The first line of stderr that says what went wrong (else its first line).
  first=$(grep -m1 -iE 'error|warning|refus|cannot|not |unreadable|invalid|fail|another run' "$T/err" | cut -c1-160)
  [ -z "$first" ] && first=$(grep -v '^\s*$' "$T/err" | tail -1 | cut -c1-160)
  [ -z "$first" ] && first=$(grep -m1 -v '^\s*$' "$T/out" | cut -c1-160)
  if [ $rc -eq 137 ] && [ "$(echo "$end - $start >= $TIMEOUT" | bc)" = 1 ]; then verdict=HANG
  elif [ $rc -ge 128 ]; then verdict=CRASH
  elif grep -Eq "$RAW" "$T/err" "$T/out"; then verdict=RAW; first=$(grep -Eh -m1 "$RAW" "$T/err" "$T/out" | head -1 | cut -c1-160)
  elif [ $rc -eq 0 ] && [ "$expect" = error ]; then verdict=SILENT
  elif [ $rc -eq 0 ]; then verdict=ok
  else verdict=clear; fi
  record "$verdict" "$rc" "$(printf '%.1f' "$(echo "$end - $start" | bc)")" "$name" "$first"
}

record() {
  printf '%-6s rc=%-3s %6ss  %-28s %s\n' "$1" "$2" "$3" "$category/$4" "$5"
  COUNT["$category $1"]=$(( ${COUNT["$category $1"]:-0} + 1 ))
  case $1 in CRASH|HANG|RAW|SILENT|LOSS) FAILED=1 ;; esac
}

# ---------------------------------------------------------------- set-up ----
"$OVSEG" world --out "$T/world" --train 0 --val 6 --size 64 --seed 3 >/dev/null 2>&1 ||
  { echo "bad_input_trials: ovseg world failed" >&2; exit 2; }
# Broken pipelines sit beside copies of the method files (a base must be in
# the same folder); runs use the shipped world CLIP, so nothing downloads.
mkdir -p "$T/p" && cp pipelines/*.toml "$T/p/"
P=pipelines/naclip.toml
WORLD_CLIP="$PWD/host/models/embedded/world-clip.safetensors"
EVAL=(eval "$P" --dataset world --data-root "$T/world" --quiet --results "$T/res")
IMG=pipelines/examples/beach.png
MODEL=(--set "nodes.clip.model=$WORLD_CLIP" --set "nodes.text.model=$WORLD_CLIP")
RUN=(run "$P" --image "$IMG" "${MODEL[@]}" --set "nodes.text.class_names=[\"sky\",\"sea\",\"sand\"]")
printf 'not a png' >"$T/text.png"
: >"$T/empty.png"
head -c 300 "$IMG" >"$T/truncated.png"
# A valid PNG signature and IHDR claiming 60000 x 60000 px, nothing after.
printf '\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\xea\x60\x00\x00\xea\x60\x08\x02\x00\x00\x00\x00\x00\x00\x00' >"$T/huge.png"
mkdir -p "$T/dir.toml"
: >"$T/empty.toml"
head -c 2000 /dev/urandom >"$T/binary.toml"
printf '[nodes.clip\nplugin = "clip_image"\n' >"$T/syntax.toml"
printf '[nodes.a]\nplugin = "no_such_plugin"\n' >"$T/unknown_plugin.toml"
printf 'base = "naclip.toml"\n[nodes.refine]\ngaussian_std = "five"\n' >"$T/p/wrong_type.toml"
printf 'base = "naclip.toml"\n[nodes.refine]\nno_such_param = 1\n' >"$T/p/unknown_param.toml"
printf 'base = "naclip.toml"\n[nodes.ra]\nplugin = "resize_logits"\ninputs = { logits = "rb.logits", image = "input.image" }\n[nodes.rb]\nplugin = "resize_logits"\ninputs = { logits = "ra.logits", image = "input.image" }\n' >"$T/p/cycle.toml"
printf 'base = "loop_b.toml"\n' >"$T/p/loop_a.toml"
printf 'base = "loop_a.toml"\n' >"$T/p/loop_b.toml"
head -c 4096 /dev/urandom >"$T/random.pth"
: >"$T/empty.safetensors"
printf '\x10\x00\x00\x00\x00\x00\x00\x00{"a": [1, 2' >"$T/bad_header.safetensors"
long=$(printf 'cat %.0s' $(seq 1 90))

# ----------------------------------------------------------------- cases ----
category=pipeline
trial missing-file error "$OVSEG" check "$T/nope.toml"
trial directory error "$OVSEG" check "$T/dir.toml"
trial empty-file error "$OVSEG" check "$T/empty.toml"
trial binary-garbage error "$OVSEG" check "$T/binary.toml"
trial toml-syntax error "$OVSEG" check "$T/syntax.toml"
trial unknown-plugin error "$OVSEG" check "$T/unknown_plugin.toml"
trial wrong-param-type error "$OVSEG" check "$T/p/wrong_type.toml"
trial unknown-param error "$OVSEG" check "$T/p/unknown_param.toml"
trial cycle error "$OVSEG" check "$T/p/cycle.toml"
trial base-loop error "$OVSEG" check "$T/p/loop_a.toml"
trial set-no-key error "$OVSEG" check "$P" --set =3
trial set-no-equals error "$OVSEG" check "$P" --set nodes.refine.gaussian_std
trial set-bad-node error "$OVSEG" check "$P" --set nodes.nope.x=1
trial set-out-of-range error "$OVSEG" check "$P" --set nodes.refine.gaussian_std=-1
trial densecrf-tiny-theta error "$OVSEG" check "$P" --set nodes.crf.plugin=densecrf \
  --set nodes.crf.theta_alpha=0.0001
trial unknown-dataset error "$OVSEG" "${EVAL[@]/world/nowhere}"

category=image
trial missing error "$OVSEG" run "$P" --image "$T/nope.png" --out "$T/o1" "${MODEL[@]}"
trial text-as-png error "$OVSEG" run "$P" --image "$T/text.png" --out "$T/o2" "${MODEL[@]}"
trial empty error "$OVSEG" run "$P" --image "$T/empty.png" --out "$T/o3" "${MODEL[@]}"
trial truncated error "$OVSEG" run "$P" --image "$T/truncated.png" --out "$T/o4" "${MODEL[@]}"
trial header-60000px error "$OVSEG" run "$P" --image "$T/huge.png" --out "$T/o5" "${MODEL[@]}"
trial out-unwritable error "$OVSEG" "${RUN[@]}" --out /proc/ovseg_out

category=model
trial random-bytes-pth error "$OVSEG" "${RUN[@]}" --out "$T/o6" --set "nodes.clip.model=$T/random.pth"
trial empty-safetensors error "$OVSEG" "${RUN[@]}" --out "$T/o7" --set "nodes.clip.model=$T/empty.safetensors"
trial bad-header error "$OVSEG" "${RUN[@]}" --out "$T/o8" --set "nodes.clip.model=$T/bad_header.safetensors"
trial unknown-zoo-name error "$OVSEG" "${RUN[@]}" --out "$T/o9" --set nodes.clip.model=openai:ViT-Z/99
trial weights-not-safetensors error "$OVSEG" "${EVAL[@]}" --weights "$T/random.pth"

category=text
trial prompt-over-77 error "$OVSEG" run "$P" --image "$IMG" --out "$T/o10" "${MODEL[@]}" \
  --set "nodes.text.class_names=[\"$long\",\"sea\"]" --set nodes.text.cache=false
trial prompt-truncate ok "$OVSEG" run "$P" --image "$IMG" --out "$T/o11" "${MODEL[@]}" \
  --set "nodes.text.class_names=[\"$long\",\"sea\"]" --set nodes.text.truncate=true --set nodes.text.cache=false
trial tokenize-over-context error "$OVSEG" tokenize "$long" --context 77
trial names-file-missing error "$OVSEG" run "$P" --image "$IMG" "${MODEL[@]}" --out "$T/o12" \
  --set "nodes.text.names_file=$T/nope.txt"
trial bpe-missing error env OVSEG_CLIP_BPE="$T/nope.gz" "$OVSEG" "${RUN[@]}" --out "$T/o13" --set nodes.text.cache=false

category=data
trial data-root-missing error "$OVSEG" eval "$P" --dataset world --data-root "$T/nowhere" --quiet --results "$T/res"
trial world-val-size-huge error "$OVSEG" world --out "$T/w2" --train 0 --val 1 --val-size 100000
trial world-negative error "$OVSEG" world --out "$T/w3" --train 0 --val -1
trial limit-zero error "$OVSEG" "${EVAL[@]}" --limit 0
trial shard-bad error "$OVSEG" "${EVAL[@]}" --shard 3/2

category=records
"$OVSEG" "${EVAL[@]}" --limit 2 >/dev/null 2>&1
rec=$(ls "$T"/res/*.json 2>/dev/null | head -1)
if [ -n "$rec" ]; then
  cp "$rec" "$T/rec.bak"
  head -c 200 "$T/rec.bak" >"$rec"
  trial truncated-record ok "$OVSEG" table --results "$T/res"
  echo '{"kind": 5, "mIoU": "high"}' >"$rec"
  trial schema-bad-record ok "$OVSEG" table --results "$T/res"
  cp "$T/rec.bak" "$rec"
fi
printf '{"broken' >"$T/res/x.partial.json"
trial stray-partial ok "$OVSEG" table --results "$T/res"
rm -f "$T/res/x.partial.json"

category=env
mkdir -p "$T/ro" && chmod a-w "$T/ro"
trial cache-unwritable ok env OVSEG_CACHE_DIR="$T/ro/cache" "$OVSEG" "${RUN[@]}" --out "$T/o14"
trial home-unwritable ok env -u OVSEG_CACHE_DIR HOME="$T/ro" XDG_CACHE_HOME= "$OVSEG" "${RUN[@]}" --out "$T/o15"
trial plugin-path-missing ok env OVSEG_PLUGIN_PATH="$T/nowhere" "$OVSEG" plugins
mkdir -p "$T/plugins" && printf 'text' >"$T/plugins/libovseg_plugin_text.so" && : >"$T/plugins/libovseg_plugin_empty.so"
trial bad-so-files ok env OVSEG_PLUGIN_PATH="$T/plugins" "$OVSEG" plugins

category=train
trial train-clip-no-data error "$OVSEG" train-clip --data "$T/nowhere" --out "$T/m.safetensors" --steps 1
mkdir -p "$T/cw" && "$OVSEG" world --out "$T/cw" --train 8 --val 0 --size 32 >/dev/null 2>&1
CLIP_ARGS=(train-clip --data "$T/cw" --out "$T/m.safetensors" --steps 2 --batch 4 --geometry tiny --quiet
  --checkpoint-dir "$T/ck" --checkpoint-every 1)
"$OVSEG" "${CLIP_ARGS[@]}" --lr 1e-3 >/dev/null 2>&1
trial resume-other-lr error "$OVSEG" "${CLIP_ARGS[@]}" --lr 2e-3
trial resume-other-seed error "$OVSEG" "${CLIP_ARGS[@]}" --lr 1e-3 --seed 4
if [ -f "$T/ck/trainer_state.pt" ]; then
  head -c 1000 "$T/ck/trainer_state.pt" >"$T/ck/t" && mv "$T/ck/t" "$T/ck/trainer_state.pt"
  trial truncated-trainer-state error "$OVSEG" "${CLIP_ARGS[@]}" --lr 1e-3
fi
trial train-steps-zero error "$OVSEG" train pipelines/clip_finetune_qv.toml --dataset world --data-root "$T/world" \
  --out "$T/tr" --set train.steps=0

category=hang
{ echo 'base = "naclip.toml"'; for i in $(seq 1 20000); do printf '[nodes.x%d]\nplugin = "clip_image"\ninputs = { image = "input.image" }\n' "$i"; done; } >"$T/p/wide.toml"
trial 20k-unused-nodes ok "$OVSEG" run "$T/p/wide.toml" --image "$IMG" --out "$T/o16" "${MODEL[@]}" \
  --set "nodes.text.class_names=[\"sky\",\"sea\",\"sand\"]"
trial cliptrase-ratio-64 error "$OVSEG" run "$T/p/cliptrase.toml" --image "$IMG" --out "$T/o17" "${MODEL[@]}" \
  --set "nodes.text.class_names=[\"sky\",\"sea\",\"sand\"]" --set nodes.vote.ratio=64

# ------------------------------------------------- SIGKILL during eval ----
category=kill
"$OVSEG" world --out "$T/kw" --train 0 --val 40 --size 64 --seed 4 >/dev/null 2>&1
KEVAL=(eval "$P" --dataset world --data-root "$T/kw" --quiet --checkpoint-every 1)
start=$(date +%s.%N)
"$OVSEG" "${KEVAL[@]}" --results "$T/whole" >/dev/null 2>&1
whole_s=$(echo "$(date +%s.%N) - $start" | bc)
for frac in 0.3 0.5 0.8; do
  delay=$(printf '%.1f' "$(echo "$whole_s * $frac" | bc)")
  rm -rf "$T/killed"
  "$OVSEG" "${KEVAL[@]}" --results "$T/killed" >/dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  partial=$(ls "$T"/killed/*.partial.json 2>/dev/null | wc -l)
  start=$(date +%s.%N)
  "$OVSEG" "${KEVAL[@]}" --results "$T/killed" >"$T/out" 2>"$T/err"
  rc=$?
  secs=$(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc)")
  same=$(python3 - "$T/whole" "$T/killed" <<'EOF'
import json, sys, glob
def load(d):
    recs = [json.load(open(f)) for f in glob.glob(d + "/*.json") if not f.endswith(".partial.json")]
    return [(r.get("mIoU"), r.get("confusion_matrix")) for r in recs]
a, b = load(sys.argv[1]), load(sys.argv[2])
print("same" if a == b and a and a[0][1] is not None else "differs")
EOF
)
  if [ $rc -ne 0 ]; then verdict=clear; elif [ "$same" = same ]; then verdict=ok; else verdict=LOSS; fi
  record "$verdict" "$rc" "$secs" "kill-at-${delay}s-of-$(printf '%.0f' "$whole_s")" \
    "partial files left: $partial; rerun's confusion matrix vs the uninterrupted run's: $same"
done

# --------------------------------------------------------------- summary ----
echo
echo "summary (category verdict: cases)"
for k in "${!COUNT[@]}"; do echo "  $k: ${COUNT[$k]}"; done | sort
exit $FAILED
