#!/bin/bash
# Queues the shards (an array job) and the merge, which waits for all of them (afterok).
#   MODEL=model.onnx SAMPLES=test.npz OUT=/shared/exit-lens-run bash docs/scale/slurm/submit.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${MODEL:?set MODEL}" "${SAMPLES:?set SAMPLES}" "${OUT:?set OUT}"
export MODEL SAMPLES OUT
array=$(sbatch --parsable --export=ALL "$here/profile-shards.sbatch")
array=${array%%;*} # --parsable prints "jobid" or "jobid;cluster"
merge=$(sbatch --parsable --export=ALL --dependency="afterok:$array" "$here/merge.sbatch")
echo "shards: job $array; merge: job ${merge%%;*} (after all shards succeed); report: $OUT/report.json"
