#!/usr/bin/env bash
# One training call on the lent GPU (see docs/training.md). The run lives in RUN_DIR on
# the device machine, so back-to-back calls on a still-warm machine go on from it; a
# fresh machine starts from the checkpoint carried in runs/shape. Training stops at the
# time budget, and the checkpoint and log land in $OUT/run for the next call.
#   Usage: bash bench/train_call.sh BUDGET_S [TRAIN OPTIONS...]
# e.g.     bash bench/train_call.sh 540 --steps 9000
# Under torchrun with NPROC GPUs when NPROC > 1 (global batch split over the ranks).
set -euo pipefail
budget=${1:-540}
shift || true
run=${RUN_DIR:-/root/lift3d_run}
nproc=${NPROC:-1}
export PYTHONPATH=src PYTHONUNBUFFERED=1
mkdir -p "$OUT/run" "$run"
step_of() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['step'])" "$1" 2>/dev/null || echo -1; }
if [ "$(step_of runs/shape/last.json)" -gt "$(step_of "$run/last.json")" ]; then
    cp runs/shape/last.* runs/shape/log.jsonl "$run/"
fi
echo "starting from step $(step_of "$run/last.json") in $run"
nvidia-smi -L
workers=$(( $(nproc) / nproc - 2 ))
if [ "$nproc" -gt 1 ]; then
    launch=(torchrun --standalone --nproc-per-node "$nproc" -m lift3d.train)
else
    launch=(python3 -m lift3d.train)
fi
status=0
"${launch[@]}" train --out "$run" --batch 64 --echo 3 --workers "$workers" \
    --time-budget "$budget" --ckpt-every 500 --val-every 500 \
    --assets .carry/assets.npz "$@" 2>&1 | tee "$run/stdout.txt" || status=$?
# At most 8 files come back: the checkpoint (json + parts) and the log.
cp "$run"/last.* "$run/log.jsonl" "$OUT/run/"
ls -la "$OUT/run"
exit "$status"
