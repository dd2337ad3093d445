#!/usr/bin/env bash
# Train the shipped G_I on a lent GPU machine in one call, resumable across sessions.
#
# Run from the repository root on a machine that has torch with CUDA (no install: PYTHONPATH points at the checkout).
# DATA: a copy of the default dataset's manifest.json and train split labels (train/*/*.json and *.npz, no mp4:
# frames are re-rendered from the labels), about 20 MB; see styletalker/weights/MODEL_CARD.md.
# RESUME: a folder holding ckpt.part.* from an earlier call (the device tool brings back at most 8 files of 16 MB,
# so the 66 MB training checkpoint travels in 15 MB parts). Without it, G starts from the shipped weights with a
# fresh discriminator.
# Writes to $OUT: generator_default.safetensors/.json (the EMA generator), ckpt.part.* and extras.tgz (log.jsonl and
# whatever else was trained): at most 8 files.
# GEN_FLAGS="--set FIELD=VALUE ..." trains another generator config from scratch (the shipped weights only fit the
# preset); check it with benchmarks/generator_capacity.py on the CPU first.
# BASELINE=1 also trains the baseline without filtered non-linearities, concurrently (into extras.tgz).
# ENCODER_MINUTES=M then trains Enc_I (and its landmark regressor) for M minutes against the new G (into extras.tgz:
# encoder_default.* and landmarks_default.*; an encoder only fits the generator it was trained against).
set -euo pipefail
DATA=${DATA:-out/gpu_carry/default}
RESUME=${RESUME:-out/gpu_ckpt}
MINUTES=${MINUTES:-8}
BATCH=${BATCH:-256}
OUT=${OUT:-out/gpu}
mkdir -p "$OUT" /tmp/gtrain/main
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
python3 -c "
import time, torch; torch.set_num_threads(16); t = time.time()
from styletalker.data.frames import frame_bank
b = frame_bank('$DATA', 'train', progress=False); print('bank', tuple(b.shape), f'{time.time() - t:.1f} s')"
init=()
if ls "$RESUME"/ckpt.part.* >/dev/null 2>&1; then
  cat "$RESUME"/ckpt.part.* > /tmp/gtrain/main/checkpoint.pt
  echo "resuming from $RESUME"
elif [ -z "${GEN_FLAGS:-}" ]; then
  init=(--init styletalker/weights/generator_default)
fi
read -r -a gen_flags <<< "${GEN_FLAGS:-}"
if [ "${BASELINE:-0}" = 1 ]; then
  python3 -m styletalker train generator --profile default --data "$DATA" --batch "$BATCH" --minutes "$MINUTES" \
    --device auto --quiet --baseline --out /tmp/gtrain/baseline --export /tmp/gtrain/baseline/generator_default_baseline \
    > /tmp/gtrain/baseline.txt 2>&1 &
fi
python3 -m styletalker train generator --profile default --data "$DATA" --batch "$BATCH" --minutes "$MINUTES" \
  --device auto --quiet --out /tmp/gtrain/main --export "$OUT/generator_default" --ckpt-every 100 "${init[@]}" \
  "${gen_flags[@]}"
wait
mkdir -p /tmp/gtrain/extras
cp /tmp/gtrain/main/log.jsonl /tmp/gtrain/extras/log.jsonl
split -b 15M -d /tmp/gtrain/main/checkpoint.pt "$OUT/ckpt.part."
if [ "${BASELINE:-0}" = 1 ]; then
  cat /tmp/gtrain/baseline.txt
  mkdir -p /tmp/gtrain/extras/baseline
  cp /tmp/gtrain/baseline/generator_default_baseline.* /tmp/gtrain/baseline/log.jsonl /tmp/gtrain/extras/baseline/
fi
if [ -n "${ENCODER_MINUTES:-}" ]; then
  python3 -m styletalker train encoder --profile default --data "$DATA" --generator "$OUT/generator_default" \
    --minutes "$ENCODER_MINUTES" --batch 64 --device auto --quiet --out /tmp/gtrain/encoder \
    --export /tmp/gtrain/extras/encoder_default
  cp /tmp/gtrain/encoder/encoder/log.jsonl /tmp/gtrain/extras/encoder_log.jsonl
fi
tar czf "$OUT/extras.tgz" -C /tmp/gtrain/extras .
ls -la "$OUT"
