#!/usr/bin/env bash
# The people-aware world CLIP (README "The people world"): the embedded world
# CLIP (host/models/embedded/world-clip.safetensors, which never saw a
# person) trained on with ovseg's contrastive trainer on the object-level
# people world: people scenes whose captions name the figures (person, man,
# woman, pedestrian, ...) and the scene's stuff and objects, interleaved with
# as many world v2 scenes without people. Same geometry and recipe as the
# embedded model (host/models/embedded/README.md), shorter and at a lower
# peak learning rate because it continues from that model.
#
#   bash scripts/people_clip.sh [DATA_DIR] [STEPS]
#
# Writes DATA_DIR (default data/people-objects: the people world with 64 px
# train scenes, --val 100 at 128 px) and DATA_DIR/people-clip.safetensors
# (fp16, 7.6 MB, not committed). --checkpoint-dir makes an interrupted run
# resume; the same build gives the same file. About 10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${OVSEG_BIN:-build/bin/ovseg}"
DATA="${1:-data/people-objects}"
STEPS="${2:-600}"
[ -f "$DATA/world/val/world.json" ] ||
  "$BIN" world --people --out "$DATA" --train 3000 --val 100 --size 64 --val-size 128 --seed 0 >&2
/usr/bin/time -v "$BIN" train-clip --data "$DATA/world" --out "$DATA/people-clip.safetensors" \
    --init host/models/embedded/world-clip.safetensors \
    --steps "$STEPS" --batch 128 --lr 1e-3 --seed 0 --checkpoint-dir "$DATA/ck-people-clip"
