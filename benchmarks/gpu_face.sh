#!/usr/bin/env bash
# Session 9: two ways to teach the first_cutoff 8 G_I to draw eyes and lips, side by side on one lent GPU, in one call
# (at most 10 minutes). Both start from the session-6 first_cutoff 8 reconstruction pair (INIT: generator.* and
# encoder.*, 147 kimg of the autoencoder scheme) and weight the loss at the inner-face landmarks.
#   recon:  `train generator --scheme recon --face-weight 4` (G.synthesis as an autoencoder's decoder with a small
#           single-code encoder, then the mapping fitted to the codes), then `train encoder` (Enc_I) against it.
#   detail: `train detail` (every synthesis layer and Enc_I, its W+ encoder, trained together; mapping and Fourier
#           input frozen), which gives the pair directly.
# Run from the repository root on a machine that has torch with CUDA (PYTHONPATH points at the checkout, nothing is
# installed). DATA: the default dataset's manifest.json and train/val clip labels (*.json, *.npz; frames are
# re-rendered from them). BUDGET: seconds from the start for both variants to finish (each stops at its time limit
# with a checkpoint and exports what it has).
# Writes to $OUT: recon_generator, recon_encoder, detail_generator, detail_encoder (.safetensors) and meta.tgz (the
# JSON configs, logs and printed output).
set -uo pipefail
DATA=${DATA:-out/gpu_carry/default}
INIT=${INIT:-out/gpu_carry/fc8}
BUDGET=${BUDGET:-540}
FACE_WEIGHT=${FACE_WEIGHT:-4}
BATCH=${BATCH:-128}
OUT=${OUT:-out/gpu}
W=/tmp/gface
T0=$(date +%s)
mkdir -p "$OUT" $W/meta
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
FC8="--set first_cutoff=8 --set first_stopband=17.15"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
# render both splits once, in parallel, before the runs (they find the cached banks)
for s in train val; do
  python3 -c "
import time; t = time.time()
from styletalker.data.frames import frame_bank
b = frame_bank('$DATA', '$s', progress=False); print('$s', 'bank', tuple(b.shape), f'{time.time() - t:.1f} s')" &
done
wait
left=$(( BUDGET - ($(date +%s) - T0) - 40 ))         # 40 s for the exports, mapping fit and validation scores
echo "training budget per variant: $left s"
m() { python3 -c "print(round($1 / 60, 2))"; }

(
  export OMP_NUM_THREADS=8
  python3 -m styletalker train generator --profile default --scheme recon --data "$DATA" --batch "$BATCH" \
    --minutes "$(m "$left * 0.68")" --device auto --quiet --out $W/recon/gen --export $W/recon/generator \
    --init $INIT/generator $FC8 --face-weight "$FACE_WEIGHT" > $W/meta/recon_generator.txt 2>&1
  python3 -m styletalker train encoder --profile default --data "$DATA" --generator $W/recon/generator \
    --minutes "$(m "$left * 0.3")" --batch 64 --device auto --quiet --out $W/recon/enc \
    --export $W/recon/encoder > $W/meta/recon_encoder.txt 2>&1
) &
OMP_NUM_THREADS=8 python3 -m styletalker train detail --profile default --data "$DATA" --generator $INIT/generator \
  --encoder $INIT/encoder --batch "$BATCH" --steps 1000000 --minutes "$(m "$left")" --device auto --quiet \
  --out $W/detail/run --export $W/detail > $W/meta/detail.txt 2>&1 &
wait

cp $W/recon/gen/log.jsonl $W/meta/recon_generator_log.jsonl 2>/dev/null
cp $W/recon/enc/encoder/log.jsonl $W/meta/recon_encoder_log.jsonl 2>/dev/null
cp $W/detail/run/log.jsonl $W/meta/detail_log.jsonl 2>/dev/null
cp $W/recon/generator.json $W/meta/recon_generator.json 2>/dev/null
cp $W/recon/encoder.json $W/meta/recon_encoder.json 2>/dev/null
cp $W/recon/landmarks_default.json $W/meta/recon_landmarks.json 2>/dev/null
cp $W/detail/generator_default.json $W/meta/detail_generator.json 2>/dev/null
cp $W/detail/encoder_default.json $W/meta/detail_encoder.json 2>/dev/null
cp $W/recon/generator.safetensors "$OUT/recon_generator.safetensors" 2>/dev/null
cp $W/recon/encoder.safetensors "$OUT/recon_encoder.safetensors" 2>/dev/null
cp $W/recon/landmarks_default.safetensors "$OUT/recon_landmarks.safetensors" 2>/dev/null
cp $W/detail/generator_default.safetensors "$OUT/detail_generator.safetensors" 2>/dev/null
cp $W/detail/encoder_default.safetensors "$OUT/detail_encoder.safetensors" 2>/dev/null
for f in $W/meta/*.txt; do echo "== $f"; tail -n 4 "$f"; done
tar czf "$OUT/meta.tgz" -C $W/meta .
ls -la "$OUT"; echo "total $(( $(date +%s) - T0 )) s"
