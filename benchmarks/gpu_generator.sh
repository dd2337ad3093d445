#!/usr/bin/env bash
# Train the shipped G_I (and its baseline) on a lent GPU machine, in one call of a few minutes.
#
# Run from the repository root on a machine that has torch with CUDA (no install: PYTHONPATH points at the checkout).
# DATA: a copy of the train split's labels (json + npz, no mp4 needed: frames are re-rendered from the labels), e.g.
#   the train split's */*.json and */*.npz plus manifest.json (see docs/model_cards/generator_default.md).
# Three runs share the GPU: the filtered generator with R1 gamma 0.5 and 0.1, and the baseline without filtered
# non-linearities (gamma 0.5). Each stops after MINUTES and writes its EMA generator to $OUT.
set -euo pipefail
DATA=${DATA:-out/gpu_carry/default}
MINUTES=${MINUTES:-8}
BATCH=${BATCH:-64}
OUT=${OUT:-out/gpu}
RUNS=/tmp/gpu_runs          # everything goes into one tarball at the end (the device tool brings back 8 files)
mkdir -p "$OUT" "$RUNS"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
# render the frame bank once (cached next to the data), shared by the three runs
python3 -c "
import time, torch; torch.set_num_threads(16); t = time.time()
from styletalker.gan.train import frame_bank
b = frame_bank('$DATA', 'train', progress=False); print('bank', tuple(b.shape), f'{time.time() - t:.1f} s')"
run() {  # name, extra args
  local name=$1; shift
  OMP_NUM_THREADS=4 python3 -m styletalker train generator --profile default --data "$DATA" --batch "$BATCH" \
    --minutes "$MINUTES" --device auto --quiet --out "/tmp/gtrain/$name" --export "$RUNS/$name" "$@" \
    > "$RUNS/$name.txt" 2>&1 || echo "run $name failed" >> "$RUNS/$name.txt"
  cp "/tmp/gtrain/$name/log.jsonl" "$RUNS/$name.log.jsonl" 2>/dev/null || true
}
run generator_default --r1-gamma 0.5 &
run generator_default_g01 --r1-gamma 0.1 &
run generator_default_baseline --r1-gamma 0.5 --baseline &
wait
tail -n 3 "$RUNS"/*.txt
tar czf "$OUT/gpu_runs.tgz" -C "$RUNS" .
cp "$RUNS"/generator_default.safetensors "$RUNS"/generator_default.json "$OUT"/ 2>/dev/null || true
nvidia-smi --query-gpu=name,memory.used --format=csv || true
