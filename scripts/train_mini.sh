#!/usr/bin/env bash
# Trains binding_mini from scratch on the synthetic world (binding.world); see docs/mini.md.
#
#   scripts/train_mini.sh [OUT]          default OUT: runs/binding_mini; log: OUT/train.log
#
# 1. world: train/val scenes (seeds 1/2) in OUT/world, test scenes (seed 3) in OUT/test
# 2. stage 1: image + text towers from scratch, contrastive on (image, caption) pairs
# 3. stage 2: audio, depth, thermal, IMU towers from scratch, each bound to the frozen
#    stage-1 image tower only (no text in their pairs), four runs side by side
# 4. assemble the six towers into binding/models/weights/binding_mini.safetensors (fp16)
# 5. evaluate on the test world with `binding eval` -> bench/results/binding_mini.json
#
# Environment: N_TRAIN N_VAL N_TEST (scenes), EPOCHS1 EPOCHS2, PYTHON (default .venv/bin/python),
# WEIGHTS (where the assembled file goes), SKIP_PREPARE=1 (reuse OUT's world and manifests).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/binding_mini}
PY=${PYTHON:-.venv/bin/python}
BIN="$(dirname "$PY")/binding"
N_TRAIN=${N_TRAIN:-6000}
N_VAL=${N_VAL:-300}
N_TEST=${N_TEST:-600}
EPOCHS1=${EPOCHS1:-90}
EPOCHS2=${EPOCHS2:-6}
WEIGHTS=${WEIGHTS:-binding/models/weights/binding_mini.safetensors}
RESULTS=${RESULTS:-bench/results/binding_mini.json}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/train.log") 2>&1
# anchor vectors and eval embeddings of this run only; the model has no weights yet
export BINDING_CACHE_DIR="$OUT/cache"
export BINDING_MODEL=binding_mini
unset BINDING_CHECKPOINT BINDING_SEED
COMMON=(--model binding_mini --precision fp32 --batch-size 64 --seed 0 --lr 1e-3 --patience 10 --json)
stamp() { echo "[$(date -u +%H:%M:%S)] $*"; }
START=$(date +%s)

if [ "${SKIP_PREPARE:-0}" != 1 ] || [ ! -f "$OUT/world/pairs_text.csv" ]; then
  stamp "world: $N_TRAIN train, $N_VAL val, $N_TEST test scenes"
  "$PY" bench/mini.py prepare "$OUT" --n-train "$N_TRAIN" --n-val "$N_VAL" --n-test "$N_TEST"
fi

stamp "stage 1: image + text from scratch, $EPOCHS1 epochs"
"$BIN" train pair "$OUT/world/pairs_text.csv" --modality text --anchor image --from-scratch \
  --out "$OUT/stage1" --epochs "$EPOCHS1" "${COMMON[@]}" > "$OUT/stage1.json"
cat "$OUT/stage1.json"
"$BIN" train assemble "$OUT/stage1" --model binding_mini --fp32 --out "$OUT/stage1.safetensors"

stamp "stage 2: audio, depth, thermal, imu bound to the stage-1 image tower, $EPOCHS2 epochs"
pids=()
for m in audio depth thermal imu; do
  OMP_NUM_THREADS=1 "$BIN" train bind "$OUT/world/pairs_$m.csv" --modality "$m" --anchor image \
    --from-scratch --checkpoint "$OUT/stage1.safetensors" --out "$OUT/$m" \
    --epochs "$EPOCHS2" "${COMMON[@]}" > "$OUT/$m.json" 2> "$OUT/$m.err" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
for m in audio depth thermal imu; do cat "$OUT/$m.json"; done

stamp "assemble -> $WEIGHTS"
"$BIN" train assemble "$OUT/stage1" "$OUT/audio" "$OUT/depth" "$OUT/thermal" "$OUT/imu" \
  --model binding_mini --complete --out "$WEIGHTS"
stamp "training done in $(( $(date +%s) - START )) s"

stamp "evaluate on the test world -> $RESULTS"
"$PY" bench/mini.py evaluate "$OUT" --checkpoint "$WEIGHTS" --json "$RESULTS"
stamp "all done in $(( $(date +%s) - START )) s"
