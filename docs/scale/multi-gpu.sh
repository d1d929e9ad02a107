#!/bin/bash
# Exit Lens on one machine with several GPUs: one shard per GPU (--device-id), then the merge.
#   MODEL=model.onnx SAMPLES=test.npz OUT=run-1 bash docs/scale/multi-gpu.sh
#   OUT=run-1 MODEL=… SAMPLES=… bash docs/scale/multi-gpu.sh resume   # after a failed shard
# OUT is a fresh folder per run: the records, the report and one log per shard
# ($OUT/shard-<i>.log) go there. `resume` profiles only the shards whose records are missing in
# OUT, with the run's shard count (read from $OUT/exit-lens-run.txt), then merges.
set -euo pipefail
mode=${1:-run}
case "$mode" in
  run | resume) ;;
  *)
    echo "multi-gpu.sh: unknown mode \"$mode\": run multi-gpu.sh (a new run) or multi-gpu.sh resume" >&2
    exit 2
    ;;
esac
: "${MODEL:?set MODEL to the .onnx model}"
: "${SAMPLES:?set SAMPLES to the .npz sample set}"
: "${OUT:?set OUT to a fresh folder for the records files, the report and the logs}"
CALIB=${CALIB:-}
EP=${EP:-cuda}                   # --device-id picks a CUDA (or TensorRT) device
EXIT_LENS=${EXIT_LENS:-exit-lens}
THREADS=${THREADS:-}             # ONNX Runtime's CPU threads per shard (default: all cores)
read -r -a exit_lens <<<"$EXIT_LENS"
"${exit_lens[@]}" --version >/dev/null || {
  echo "multi-gpu.sh: EXIT_LENS=\"$EXIT_LENS\" does not run (e.g. EXIT_LENS=\"node /path/to/dist/cli.js\")" >&2
  exit 2
}
RUN_FILE="$OUT/exit-lens-run.txt"
shopt -s nullglob
if [ "$mode" = resume ]; then
  shards=$(sed -n 's/^SHARDS=\([1-9][0-9]*\)$/\1/p' "$RUN_FILE" 2>/dev/null || true)
  [ -n "$shards" ] || { echo "multi-gpu.sh: $RUN_FILE names no shard count: not a run to resume" >&2; exit 2; }
else
  GPUS=${GPUS:-$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)}
  [ "${GPUS:-0}" -ge 1 ] || GPUS=1
  shards=$GPUS
  old=("$OUT"/shard-*.exitrec "$OUT"/calib-*.exitrec "$OUT"/report.jso[n])
  if [ ${#old[@]} != 0 ]; then
    echo "multi-gpu.sh: $OUT already holds a run (${old[0]##*/}): give a fresh OUT, or resume that run" >&2
    exit 2
  fi
  mkdir -p "$OUT"
  echo "SHARDS=$shards" >"$RUN_FILE"
fi
threads=()
if [ -n "$THREADS" ]; then threads=(--threads "$THREADS"); fi

pids=()
for ((i = 0; i < shards; i++)); do
  if [ "$mode" = resume ] && [ -f "$OUT/shard-$i.exitrec" ] && { [ -z "$CALIB" ] || [ -f "$OUT/calib-$i.exitrec" ]; }; then
    continue # this shard's records are there
  fi
  (
    # --quiet keeps the table out of the log; the provider that ran is still printed (stderr).
    "${exit_lens[@]}" profile "$MODEL" --samples "$SAMPLES" --shard "$i/$shards" --device-id "$i" --ep "$EP" \
      ${threads[@]+"${threads[@]}"} --quiet --records-out "$OUT/shard-$i.exitrec"
    if [ -n "$CALIB" ]; then
      "${exit_lens[@]}" profile "$MODEL" --samples "$CALIB" --shard "$i/$shards" --device-id "$i" --ep "$EP" \
        ${threads[@]+"${threads[@]}"} --quiet --records-out "$OUT/calib-$i.exitrec"
    fi
  ) >"$OUT/shard-$i.log" 2>&1 &
  pids+=("$i:$!")
done
failed=0
for p in ${pids[@]+"${pids[@]}"}; do
  wait "${p#*:}" || {
    failed=1
    echo "shard ${p%%:*} failed; see $OUT/shard-${p%%:*}.log" >&2
  }
done
if [ "$failed" != 0 ]; then
  echo "The other shards' records are kept: once the cause is fixed, run again with resume." >&2
  exit 1
fi

calib=()
if [ -n "$CALIB" ]; then
  for f in "$OUT"/calib-*.exitrec; do calib+=(--calib-records "$f"); done
fi
"${exit_lens[@]}" merge "$OUT"/shard-*.exitrec ${calib[@]+"${calib[@]}"} \
  --json "$OUT/report.json" --markdown "$OUT/report.md" --html "$OUT/report.html"
