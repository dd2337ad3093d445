#!/usr/bin/env bash
# Retrain everything downstream of G_I and Enc_I on this 2-core CPU and re-measure the bars of issues 3, 4, 6 and 7
# (the default profile), after new generator/encoder weights were shipped. About two hours.
#
# The talker depends on Enc_I's codes and renders through G_I, and the priors on the talker's posterior, so all of
# them are retrained, and so is the D_sync of the talker's lip-sync loss, which is fine-tuned on the pair's inversions
# (session 20); dsync_default, the sync evaluator and the landmark regressor see only real frames and are kept.
# Two jobs at a time, one torch thread each. Speed bars are not re-run here (they need an idle machine; the
# architectures are unchanged): `python benchmarks/talker_bars.py --speed-only` and
# `python benchmarks/generation_bars.py --speed-only`.
#
# SEED=1 trains the talker with that seed (PRIOR_SEED, default 1, the flow prior); GI_BARS=0 skips G_I's and Enc_I's
# own bars (issues 3 and 4) when only generation's pair (paths.talking_pair) changed.
set -euo pipefail
V=${V:-v6}
SEED=${SEED:-0}
PRIOR_SEED=${PRIOR_SEED:-1}
GI_BARS=${GI_BARS:-1}
T=out/train
export OMP_NUM_THREADS=1
st() { python -m styletalker "$@"; }
mkdir -p out/logs
for d in $T/dsync_$V $T/talker_$V $T/talker_${V}_nosync $T/prior_${V}_flow $T/prior_${V}_style $T/prior_${V}_gaussian; do
  if [ -e "$d" ]; then   # training resumes from a folder's checkpoint: an old run of the same name would be continued
    echo "$d exists (an earlier run named V=$V): pick another V, or remove it to start afresh" >&2; exit 2
  fi
done
# 1. D_sync for the talker's lip-sync loss: the shipped D_sync fine-tuned on the new pair's inversions as well
#    (session 20; dsync_default_talking), beside the generator bars
st train sync --profile default --init styletalker/weights/dsync_default --set rendered=0.5 --set lr=5e-4 \
  --set warmup=50 --steps 800 --out $T/dsync_$V --export $T/dsync_$V/dsync_default_talking --quiet \
  > out/logs/dsync_$V.log 2>&1 &
if [ "$GI_BARS" = 1 ]; then
  python benchmarks/generator_bars.py --no-speed --json docs/generator_bars_default.json > out/logs/generator_bars.log 2>&1 &
fi
wait
DS=$T/dsync_$V/dsync_default_talking
# 2. the shipped talker: 6,000 steps on the code terms (the audio-mouth term at its default 0.3 since session 18),
#    then, as the default preset does since session 20, rendering steps (L1 + SSIM + the lip-sync loss, Adam 1e-4;
#    800 in session 22, 8,515 since session 23: about 3.7 s a step on one thread here, so about 9 hours; session 23 ran
#    the last 7,715 on a lent GPU in 8 minutes with benchmarks/gpu_talker.sh). The lip-sync ablation branches from the
#    step-6,000 checkpoint (copied into its folder, so training resumes there): the same rendering steps without the
#    lip-sync loss
st train talker --profile default --steps 6000 --dsync $DS --seed $SEED --out $T/talker_$V \
  --export $T/talker_$V/talker_default --quiet > out/logs/talker_$V.log 2>&1
mkdir -p $T/talker_${V}_nosync/talker
cp $T/talker_$V/talker/checkpoint.pt $T/talker_${V}_nosync/talker/
cp $T/talker_$V/codes.npy $T/talker_$V/codes.key $T/talker_${V}_nosync/
st train talker --profile default --dsync $DS --seed $SEED --ckpt-every 50 --out $T/talker_$V \
  --export $T/talker_$V/talker_default --quiet >> out/logs/talker_$V.log 2>&1 &
st train talker --profile default --no-sync --seed $SEED --ckpt-every 50 --out $T/talker_${V}_nosync \
  --export $T/talker_${V}_nosync/talker_default_nosync --quiet > out/logs/talker_${V}_nosync.log 2>&1 &
wait
# 3. the two priors on the frozen posterior (residual priors fitted to the posterior's mean: the CLI's defaults since
#    session 10; --absolute --target sample gives session 9's; since session 17 the GRU reads its last step and
#    standardised inputs, --raw-inputs gives the earlier ones; since session 19 the fit also trains at the states the
#    prior's own free walks reach (the edge term, --set edge=0 for the earlier fits))
#    The flow is fitted with --seed 1, as the shipped one was (session 23: seed 0's fit nodded at every temperature)
st train prior --profile default --prior flow --talker $T/talker_$V/talker_default --steps 3000 --seed $PRIOR_SEED \
  --out $T/prior_${V}_flow --quiet > out/logs/prior_${V}_flow.log 2>&1 &
st train prior --profile default --prior gaussian --talker $T/talker_$V/talker_default --steps 3000 \
  --out $T/prior_${V}_gaussian --quiet > out/logs/prior_${V}_gaussian.log 2>&1 &
wait
# 3b. since session 27 the shipped flow is a fine-tune of that fit with a per-video style latent, noise on the last
#     step while fitting, and noise that reads only the audio, the identity and the style (styletalker/talker/prior.py)
FLOW=$T/prior_${V}_style
st train prior --profile default --prior flow --talker $T/prior_${V}_flow/talker_default --steps 2000 --style-dim 2 \
  --seed $PRIOR_SEED --set step_noise=1.0 --noise-context style --out $FLOW --export $FLOW/talker_default --quiet \
  > out/logs/prior_${V}_style.log 2>&1
# 4. each prior's sampling temperature, calibrated on the validation split and recorded in its JSON (session 17);
#    the flow's on 24 sentences (session 23: 8 gave an estimate that moved between refits) by the rule that also
#    asks its long samples to walk like the posterior (session 26's --rule steps, session 27's choice), the
#    Gaussian's on the default 8, as the shipped ones were
python benchmarks/calibrate_temperature.py --talker $FLOW/talker_default --write \
  --temps 0.5,0.6,0.7,0.85,1.0 --sentences 24 --rule steps \
  > out/logs/calibrate_${V}_flow.log 2>&1 &
python benchmarks/calibrate_temperature.py --talker $T/prior_${V}_gaussian/talker_default_gaussian --write \
  > out/logs/calibrate_${V}_gaussian.log 2>&1 &
wait
# 4b. the lip gain (session 24), calibrated on the validation split for the talker and for its ablation, recorded in
#     their JSON; both priors carry the same VAE, so the flow's gain is copied to the Gaussian's JSON
python benchmarks/calibrate_lip_gain.py --talker $FLOW/talker_default --threads 1 --write \
  > out/logs/lip_gain_${V}.log 2>&1 &
python benchmarks/calibrate_lip_gain.py --talker $T/talker_${V}_nosync/talker_default_nosync --threads 1 --write \
  > out/logs/lip_gain_${V}_nosync.log 2>&1 &
wait
PYTHONPATH=benchmarks python - $FLOW/talker_default $T/prior_${V}_gaussian/talker_default_gaussian <<'PY'
import pathlib, sys
from calibrate_lip_gain import record
from styletalker.checkpoint import read_model_info
meta = read_model_info(pathlib.Path(sys.argv[1]))["meta"]
record(sys.argv[2], dict(meta["lip_gain_calibration"], chosen=meta["lip_gain"]))
PY
cp $FLOW/talker_default.safetensors $FLOW/talker_default.json styletalker/weights/
cp $DS.safetensors $DS.json styletalker/weights/
cp $T/prior_${V}_gaussian/talker_default_gaussian.safetensors $T/prior_${V}_gaussian/talker_default_gaussian.json \
  styletalker/weights/
# 5. the bars
if [ "$GI_BARS" = 1 ]; then
  python benchmarks/inversion_bars.py --json docs/inversion_bars_default.json > out/logs/inversion_bars.log 2>&1 &
fi
# 8 sentences x 5 samples instead of the benchmark's 20 x 10: with the first_cutoff 8 G_I (session 9) the full protocol
# renders 40,000 frames at about 5 frames/s on one thread, over two hours
python benchmarks/generation_bars.py --no-speed --threads 1 --sentences 8 --samples 5 --json docs/generation_bars_default.json \
  > out/logs/generation_bars.log 2>&1 &
TB=(python benchmarks/talker_bars.py --talker styletalker/weights/talker_default
    --ablation $T/talker_${V}_nosync/talker_default_nosync --json docs/talker_bars_default.json)
if [ "$GI_BARS" = 1 ]; then
  wait
  "${TB[@]}" > out/logs/talker_bars.log 2>&1
else   # the second core is free: beside the generation bars, one thread (its speed row is then not a measurement)
  "${TB[@]}" --threads 1 > out/logs/talker_bars.log 2>&1 &
  wait
fi
tail -n 30 out/logs/*.log
