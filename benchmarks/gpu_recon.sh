#!/usr/bin/env bash
# Reconstruction-assisted G_I and its Enc_I on a lent GPU machine, in one call: two generator sizes side by side.
#
# Run from the repository root on a machine that has torch with CUDA (no install: PYTHONPATH points at the checkout).
# DATA: a copy of the default dataset's manifest.json and train/val clip labels (*/*/*.json and *.npz, no mp4:
# frames are re-rendered from the labels), about 23 MB; see styletalker/weights/MODEL_CARD.md.
# For each variant, concurrently: `train generator --scheme recon` (G.synthesis as an autoencoder's decoder, then
# the mapping fitted to the codes) for MINUTES, then `train encoder` against that generator for ENCODER_MINUTES.
#   narrow: the default preset (0.59 M parameters), starting from the shipped adversarial weights;
#   wide:   channel_base 3072, channel_max 192 (1.42 M parameters), from scratch.
# ADV_MINUTES=M adds M minutes of adversarial fine-tuning (fresh D, batch 256) between the two; the encoder is then
# trained against the fine-tuned G.
# NARROW_FLAGS / WIDE_FLAGS replace those generator flags (e.g. WIDE_FLAGS="--set first_cutoff=8
# --set first_stopband=17.15"); check an architecture with benchmarks/generator_capacity.py on the CPU first.
# CLOSED_EYES=SHARE draws that share of every batch of the generator's reconstruction stage and of the encoder from
# frames with closed eyes (`--closed-eyes`; about 2.8 % of the training frames otherwise; session 15 found that the
# shipped G_I cannot draw a closed eye even when W+ is optimised for one).
# VARIANTS="narrow" (or "wide") runs one alone: two beside each other share the GPU's memory, and in session 6 the
# narrow variant's adversarial stage (batch 256) ran out of it beside the wide one.
# Writes to $OUT (at most 8 files): <variant>_generator.safetensors, <variant>_encoder.safetensors and meta.tgz
# (the JSON configs, logs and printed output of both variants).
set -uo pipefail
DATA=${DATA:-out/gpu_carry/default}
MINUTES=${MINUTES:-4.5}
ENCODER_MINUTES=${ENCODER_MINUTES:-2.5}
BATCH=${BATCH:-128}
CLOSED=${CLOSED_EYES:+--closed-eyes $CLOSED_EYES}
OUT=${OUT:-out/gpu}
W=/tmp/grecon
mkdir -p "$OUT" $W/meta
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
python3 -c "
import time, torch; t = time.time()
from styletalker.data.frames import frame_bank
for s in ('train', 'val'):
    b = frame_bank('$DATA', s, progress=False); print(s, 'bank', tuple(b.shape), f'{time.time() - t:.1f} s')"

variant() {   # name, extra generator flags...
  local name=$1; shift
  python3 -m styletalker train generator --profile default --scheme recon --data "$DATA" --batch "$BATCH" \
    --minutes "$MINUTES" --device auto --quiet --out $W/$name/gen --export $W/$name/generator $CLOSED "$@" \
    > $W/meta/${name}_generator.txt 2>&1
  if [ -n "${ADV_MINUTES:-}" ]; then    # adversarial fine-tuning of the reconstruction G (fresh D), same config
    local sets=() prev=""
    for f in "$@"; do [ "$prev" = "--set" ] && sets+=(--set "$f"); prev=$f; done
    python3 -m styletalker train generator --profile default --data "$DATA" --batch 256 --minutes "$ADV_MINUTES" \
      --device auto --quiet --out $W/$name/adv --export $W/$name/generator_adv --init $W/$name/generator \
      --ckpt-every 100 "${sets[@]}" > $W/meta/${name}_adversarial.txt 2>&1 \
      && cp $W/$name/adv/log.jsonl $W/meta/${name}_adversarial_log.jsonl \
      && cp $W/$name/generator_adv.json $W/$name/generator.json \
      && cp $W/$name/generator_adv.safetensors $W/$name/generator.safetensors
  fi
  python3 -m styletalker train encoder --profile default --data "$DATA" --generator $W/$name/generator \
    --minutes "$ENCODER_MINUTES" --batch 64 --device auto --quiet --out $W/$name/enc \
    --export $W/$name/encoder $CLOSED > $W/meta/${name}_encoder.txt 2>&1
}
VARIANTS=${VARIANTS:-narrow wide}
for name in $VARIANTS; do
  case $name in
    narrow) OMP_NUM_THREADS=8 variant narrow ${NARROW_FLAGS:---init styletalker/weights/generator_default} & ;;
    wide) OMP_NUM_THREADS=8 variant wide ${WIDE_FLAGS:---set channel_base=3072 --set channel_max=192} & ;;
    *) echo "unknown variant $name (narrow, wide)"; exit 2 ;;
  esac
done
wait
for name in $VARIANTS; do
  echo "== $name"; tail -n 3 $W/meta/${name}_*.txt
  cp $W/$name/generator.json $W/meta/${name}_generator.json 2>/dev/null
  cp $W/$name/encoder.json $W/meta/${name}_encoder.json 2>/dev/null
  cp $W/$name/landmarks_default.json $W/meta/${name}_landmarks.json 2>/dev/null
  cp $W/$name/gen/log.jsonl $W/meta/${name}_generator_log.jsonl 2>/dev/null
  cp $W/$name/enc/encoder/log.jsonl $W/meta/${name}_encoder_log.jsonl 2>/dev/null
  cp $W/$name/generator.safetensors "$OUT/${name}_generator.safetensors" 2>/dev/null
  cp $W/$name/encoder.safetensors "$OUT/${name}_encoder.safetensors" 2>/dev/null
done
for name in $VARIANTS; do cp $W/$name/landmarks_default.safetensors "$OUT/landmarks.safetensors" 2>/dev/null && break; done
tar czf "$OUT/meta.tgz" -C $W/meta .
ls -la "$OUT"
