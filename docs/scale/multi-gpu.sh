#!/bin/bash
# Exit Lens on one machine with several GPUs: one shard per GPU (--device-id), then the merge.
#   MODEL=model.onnx SAMPLES=test.npz OUT=run bash docs/scale/multi-gpu.sh
set -euo pipefail
: "${MODEL:?set MODEL to the .onnx model}"
: "${SAMPLES:?set SAMPLES to the .npz sample set}"
: "${OUT:?set OUT to a folder for the records files and the report}"
CALIB=${CALIB:-}
EP=${EP:-cuda}                   # --device-id picks a CUDA (or TensorRT) device
EXIT_LENS=${EXIT_LENS:-exit-lens}
GPUS=${GPUS:-$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)}
[ "${GPUS:-0}" -ge 1 ] || GPUS=1
mkdir -p "$OUT"

pids=()
for ((i = 0; i < GPUS; i++)); do
  (
    $EXIT_LENS profile "$MODEL" --samples "$SAMPLES" --shard "$i/$GPUS" --device-id "$i" --ep "$EP" \
      --quiet --records-out "$OUT/shard-$i.exitrec"
    if [ -n "$CALIB" ]; then
      $EXIT_LENS profile "$MODEL" --samples "$CALIB" --shard "$i/$GPUS" --device-id "$i" --ep "$EP" \
        --quiet --records-out "$OUT/calib-$i.exitrec"
    fi
  ) >"$OUT/shard-$i.log" 2>&1 &
  pids+=($!)
done
failed=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || { failed=1; echo "shard $i failed; see $OUT/shard-$i.log" >&2; }
done
[ "$failed" = 0 ] || exit 1

calib=()
if [ -n "$CALIB" ]; then
  for f in "$OUT"/calib-*.exitrec; do calib+=(--calib-records "$f"); done
fi
$EXIT_LENS merge "$OUT"/shard-*.exitrec ${calib[@]+"${calib[@]}"} \
  --json "$OUT/report.json" --markdown "$OUT/report.md" --html "$OUT/report.html"
