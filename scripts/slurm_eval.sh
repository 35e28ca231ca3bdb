#!/usr/bin/env bash
# Evaluate one pipeline on one data set across a Slurm cluster.
#
#   scripts/slurm_eval.sh PIPELINE.toml DATASET DATA_ROOT NUM_SHARDS [ovseg eval options...]
#
# e.g.
#   SBATCH_EXTRA="--partition=gpu --gres=gpu:1 --time=04:00:00" \
#     scripts/slurm_eval.sh pipelines/clip_baseline.toml coco_object /data/coco 8 --device cuda
#
# What it submits:
#   1. a job array of NUM_SHARDS tasks; task i runs
#        ovseg eval PIPELINE --dataset DATASET --data-root DATA_ROOT \
#          --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT \
#          --results $RESULTS/shards/<array job id> [options...]
#      Shard i takes images i, i+N, i+2N, ... of the (optionally --limit'ed)
#      list, so the shards partition the run exactly. Each task checkpoints
#      every few images: a preempted or requeued task (sbatch --requeue)
#      resumes where it stopped.
#   2. a merge job, started only when every array task succeeded
#      (--dependency=afterok), that runs
#        ovseg merge $RESULTS/shards/<array job id>/*.json --results $RESULTS
#      It sums the shards' confusion matrices into exactly the unsharded
#      run's matrix and writes the run's record into $RESULTS, where
#      `ovseg table --results $RESULTS` finds it. It refuses shards that
#      disagree on pipeline hash, protocol, data set, split or limit.
#
# Environment:
#   OVSEG         the ovseg binary (default: build/bin/ovseg next to this script)
#   RESULTS       results store (default: results/runs)
#   SBATCH_EXTRA  extra sbatch options for both jobs (partition, GPUs, time...)
#   LOG_DIR       Slurm logs (default: $RESULTS/slurm-logs)
# Every path should be on a file system all nodes share.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RESULTS="${RESULTS:-results/runs}"
LOG_DIR="${LOG_DIR:-$RESULTS/slurm-logs}"

case "${1:-}" in
  --task)   # inside one array task: one shard (sbatch runs a copy of this
            # script, so OVSEG and RESULTS come absolute from the submitter)
    shift
    pipeline="$1"; dataset="$2"; root="$3"; shift 3
    exec "$OVSEG" eval "$pipeline" --dataset "$dataset" --data-root "$root" \
      --shard "${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}" \
      --results "$RESULTS/shards/$SLURM_ARRAY_JOB_ID" "$@"
    ;;
  --merge)  # after every task succeeded
    shard_dir="$2"
    records=()
    for f in "$shard_dir"/*.json; do
      case "$f" in *.partial.json) ;; *) [ -e "$f" ] && records+=("$f") ;; esac
    done
    if [ ${#records[@]} -eq 0 ]; then echo "$0: no shard records in $shard_dir" >&2; exit 1; fi
    exec "$OVSEG" merge "${records[@]}" --results "$RESULTS"
    ;;
  -h|--help|"")
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 0
    ;;
esac

if [ $# -lt 4 ]; then
  echo "usage: $0 PIPELINE.toml DATASET DATA_ROOT NUM_SHARDS [ovseg eval options...]" >&2
  exit 2
fi
pipeline="$1"; dataset="$2"; root="$3"; shards="$4"; shift 4
if ! [[ "$shards" =~ ^[1-9][0-9]*$ ]]; then
  echo "$0: NUM_SHARDS must be a positive integer, got '$shards'" >&2
  exit 2
fi
OVSEG="$(realpath "${OVSEG:-$here/../build/bin/ovseg}")"
mkdir -p "$LOG_DIR" "$RESULTS/shards"
RESULTS="$(realpath "$RESULTS")"
pipeline="$(realpath "$pipeline")"
# Fail now, not on the cluster, when the pipeline does not validate.
"$OVSEG" check "$pipeline" >/dev/null

# shellcheck disable=SC2086  # SBATCH_EXTRA is a list of options
array_id=$(sbatch --parsable ${SBATCH_EXTRA:-} --job-name="ovseg-eval-$dataset" \
  --array="0-$((shards - 1))" --output="$LOG_DIR/%x-%A_%a.out" \
  --export=ALL,OVSEG="$OVSEG",RESULTS="$RESULTS" \
  "$here/slurm_eval.sh" --task "$pipeline" "$dataset" "$root" "$@")
array_id="${array_id%%;*}"
# shellcheck disable=SC2086
merge_id=$(sbatch --parsable ${SBATCH_EXTRA:-} --job-name="ovseg-merge-$dataset" \
  --dependency="afterok:$array_id" --output="$LOG_DIR/%x-%j.out" \
  --export=ALL,OVSEG="$OVSEG",RESULTS="$RESULTS" \
  "$here/slurm_eval.sh" --merge "$RESULTS/shards/$array_id")
echo "submitted shards: job array $array_id ($shards tasks) -> $RESULTS/shards/$array_id"
echo "submitted merge:  job ${merge_id%%;*} (after all shards succeed) -> $RESULTS"
