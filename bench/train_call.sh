#!/usr/bin/env bash
# One training call on the lent GPU (see docs/training.md): resume from runs/shape if it
# holds a checkpoint, train until the time budget, and leave the checkpoint and logs in
# $OUT/run for the next call.  Usage: bash bench/train_call.sh [BUDGET_S] [STEPS]
set -euo pipefail
budget=${1:-540}
steps=${2:-9000}
export PYTHONPATH=src PYTHONUNBUFFERED=1
mkdir -p "$OUT/run"
cp runs/shape/last.* "$OUT/run/" 2>/dev/null || true
cp runs/shape/log.jsonl "$OUT/run/" 2>/dev/null || true
nvidia-smi -L
python3 -m lift3d.train train --out "$OUT/run" --steps "$steps" --batch 64 --echo 3 \
    --workers 14 --time-budget "$budget" --ckpt-every 500 --val-every 500 \
    --assets .carry/assets.npz 2>&1 | tee "$OUT/run/stdout.txt"
ls -la "$OUT/run"
