#!/bin/bash
# Exit Lens on Slurm (docs/scale/README.md): queues the shards, an array job of SHARDS tasks
# (profile-shards.sbatch), and the merge (merge.sbatch), which runs once every shard succeeded
# (afterok) and is cancelled by Slurm if one did not (--kill-on-invalid-dep=yes).
#
#   MODEL=$PWD/model.onnx SAMPLES=$PWD/test.npz OUT=/shared/exit-lens/run-1 bash submit.sh
#   OUT=/shared/exit-lens/run-1 bash submit.sh resume   # after a failed or cancelled shard
#
# MODEL, SAMPLES  the .onnx model and the .npz sample set (paths every node sees)
# OUT             a fresh folder every node sees, one per run: records, report and logs go there
# CALIB           optional: a calibration set, profiled in shards beside the samples
# SHARDS          the number of shards (default 8)
# EP              execution providers, in order (default cuda,cpu)
# EXIT_LENS       the command (default exit-lens), e.g. "node /opt/exit-lens/dist/cli.js"
# SHARD_SBATCH_ARGS, MERGE_SBATCH_ARGS  more sbatch options for the shards and the merge, e.g.
#                 SHARD_SBATCH_ARGS="--partition=gpu --account=proj --gres=gpu:1 --cpus-per-task=8"
#
# `resume` reads the run's settings from OUT (exit-lens-run.txt), finds the shards whose records
# are missing there, and queues only those and a new merge.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mode=${1:-submit}
fail() {
  echo "submit.sh: $*" >&2
  exit 2
}
case "$mode" in
  submit | resume) ;;
  *) fail "unknown mode \"$mode\": run submit.sh (a new run) or submit.sh resume (finish the run in OUT)" ;;
esac
: "${OUT:?set OUT to a fresh folder every node sees (one per run)}"
abs() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac }
OUT=$(abs "$OUT")
RUN_FILE="$OUT/exit-lens-run.txt"
KEYS=(MODEL SAMPLES CALIB SHARDS EP)

if [ "$mode" = resume ]; then
  [ -f "$RUN_FILE" ] || fail "$RUN_FILE is missing: OUT is not a run queued by submit.sh (start one without resume)"
  # The settings of the run, as KEY=value lines (read, never sourced). A value given again in
  # the environment must be the same: a resumed run profiles what the first one did.
  jobs=()
  while IFS= read -r line; do
    key=${line%%=*}
    value=${line#*=}
    case "$key" in
      JOB) jobs+=("$value") ;;
      MODEL | SAMPLES | CALIB | SHARDS | EP)
        given=${!key-}
        if [ -n "$given" ] && [ "$key" != SHARDS ] && [ "$key" != EP ]; then given=$(abs "$given"); fi
        [ -z "${!key+x}" ] || [ "$given" = "$value" ] ||
          fail "$key=${!key} differs from the run in OUT ($key=$value): unset it to resume that run"
        printf -v "$key" '%s' "$value"
        ;;
    esac
  done < <(grep -v '^#' "$RUN_FILE")
  # A shard still queued or running would be profiled twice.
  queued=$(squeue -h -u "$(id -un)" -o '%F') || fail "squeue failed: cannot check whether the run's jobs are still queued"
  for j in ${jobs[@]+"${jobs[@]}"}; do
    if grep -qx "$j" <<<"$queued"; then
      fail "job $j of this run is still queued or running: wait for it to end (squeue -j $j) or scancel it, then resume"
    fi
  done
fi

: "${MODEL:?set MODEL to the .onnx model}" "${SAMPLES:?set SAMPLES to the .npz sample set}"
MODEL=$(abs "$MODEL")
SAMPLES=$(abs "$SAMPLES")
CALIB=${CALIB:-}
[ -z "$CALIB" ] || CALIB=$(abs "$CALIB")
SHARDS=${SHARDS:-8}
EP=${EP:-cuda,cpu}
EXIT_LENS=${EXIT_LENS:-exit-lens}
[[ "$SHARDS" =~ ^[1-9][0-9]*$ ]] || fail "SHARDS=$SHARDS is not a number of shards (1, 2, …)"
for f in "$MODEL" "$SAMPLES" ${CALIB:+"$CALIB"}; do
  [ -f "$f" ] || fail "$f is not a file (MODEL, SAMPLES and CALIB must be files every node sees)"
done
for key in "${KEYS[@]}"; do
  case "${!key}" in *$'\n'*) fail "$key holds a line break" ;; esac
done
command -v sbatch >/dev/null || fail "sbatch is not on PATH: run this on a Slurm login node"
# Every task would fail with 127 and the merge would never run: refuse before queuing anything.
read -r -a exit_lens <<<"$EXIT_LENS"
if ! version=$("${exit_lens[@]}" --version 2>&1); then
  fail "EXIT_LENS=\"$EXIT_LENS\" does not run here ($version). Set EXIT_LENS to the command, e.g. \
EXIT_LENS=\"node /path/to/exit-lens/dist/cli.js\" after npm ci && npm run build in a checkout every node sees."
fi

read -r -a shard_args <<<"${SHARD_SBATCH_ARGS:-}"
read -r -a merge_args <<<"${MERGE_SBATCH_ARGS:-}"
for a in ${shard_args[@]+"${shard_args[@]}"} ${merge_args[@]+"${merge_args[@]}"}; do
  case "$a" in
    -a | -a* | --array | --array=* | -d | -d* | --dependency | --dependency=*)
      fail "$a in SHARD_SBATCH_ARGS or MERGE_SBATCH_ARGS: submit.sh sets the array (SHARDS) and the merge's dependency"
      ;;
  esac
done
mkdir -p "$OUT"
shopt -s nullglob
if [ "$mode" = submit ]; then
  # Records left by another run would be merged with this one's (or refused by the merge).
  old=("$OUT"/shard-*.exitrec "$OUT"/calib-*.exitrec "$OUT"/report.jso[n] "$OUT"/exit-lens-run.tx[t])
  [ ${#old[@]} = 0 ] || fail "$OUT already holds a run (${old[0]##*/}): give a fresh OUT for each run, or \
run submit.sh resume to finish that one"
  {
    echo "# The run queued by docs/scale/slurm/submit.sh; submit.sh resume reads it (KEY=value lines)."
    for key in "${KEYS[@]}"; do printf '%s=%s\n' "$key" "${!key}"; done
  } >"$RUN_FILE"
  indices="0-$((SHARDS - 1))"
else
  missing=()
  for ((i = 0; i < SHARDS; i++)); do
    if [ ! -f "$OUT/shard-$i.exitrec" ] || { [ -n "$CALIB" ] && [ ! -f "$OUT/calib-$i.exitrec" ]; }; then
      missing+=("$i")
    fi
  done
  indices=$(
    IFS=,
    echo "${missing[*]-}"
  )
fi

# The tasks read these; SHARDS above all: a task never takes the shard count from its array,
# which is smaller when a task is resubmitted alone.
export MODEL SAMPLES OUT CALIB SHARDS EP EXIT_LENS
# An array request in the environment would turn the merge into an array too.
unset SBATCH_ARRAY_INX
dependency=()
shards="none missing"
if [ -n "$indices" ]; then
  array=$(sbatch --parsable --export=ALL --array="$indices" --output="$OUT/exit-lens-shard-%A_%a.log" \
    ${shard_args[@]+"${shard_args[@]}"} "$here/profile-shards.sbatch") ||
    fail "sbatch refused the shards (above): fix SHARD_SBATCH_ARGS, then OUT=$OUT bash $0 resume"
  array=${array%%;*} # --parsable prints "jobid" or "jobid;cluster"
  echo "JOB=$array" >>"$RUN_FILE"
  dependency=(--dependency="afterok:$array" --kill-on-invalid-dep=yes)
  shards="job $array"
fi
merge=$(sbatch --parsable --export=ALL ${dependency[@]+"${dependency[@]}"} \
  --output="$OUT/exit-lens-merge-%j.log" ${merge_args[@]+"${merge_args[@]}"} "$here/merge.sbatch") ||
  fail "sbatch refused the merge (above; shards: $shards): fix MERGE_SBATCH_ARGS, then once no job of the run is \
queued, OUT=$OUT bash $0 resume queues it"
merge=${merge%%;*}
echo "JOB=$merge" >>"$RUN_FILE"
echo "shards: $shards; merge: job $merge"
echo "Logs: $OUT/exit-lens-*.log. Report: $OUT/report.json once the merge ran. A shard that fails" \
  "cancels the merge; then run: OUT=$OUT bash $here/submit.sh resume"
