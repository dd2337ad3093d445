#!/usr/bin/env bash
# Session 23: the talker's rendering phase continued on a lent GPU machine, with and without the lip-sync loss, side
# by side, in one call. On this CPU a rendering step (8 windows, 8 frames each rendered by G_I, the lip-sync loss of
# D_sync) takes about 3.7 s, so the shipped talker stopped at 800 of them; on validation clips LSE-C and the mouth
# correlation were still rising at 1,000 (docs/benchmarks.md, session 22).
#
# Run from the repository root on a machine that has torch with CUDA (no install: PYTHONPATH points at the checkout).
# CARRY (out/gpu_carry/talker, made by benchmarks/gpu_talker_carry.py pack): the default training split in small form
# and the two runs' checkpoints at 800 rendering steps, Adam's moments dropped; WHL: the zuko wheel (the talker holds
# a flow prior), which the GPU image lacks. Both runs resume at step 6,800 and stop at each of MILESTONES (total
# optimiser steps), where the talker is exported; BUDGET: seconds from the start for everything (a run that reaches
# the time limit exports what it has and the later milestones are skipped).
# Writes to $OUT (at most 8 files): sync_<k>.tgz and nosync_<k>.tgz (talker_default[_nosync].safetensors and .json at
# the k-th milestone reached) and meta.tgz (logs and printed output).
# The working tree travels too, and the device tool's 64 MiB limit holds it and the carry together: session 23 moved
# the shipped weights that training does not read out of the working tree for the call (restored with `git checkout
# -- styletalker/weights` after it; the talker reads generator_default_detail, encoder_default_detail and
# dsync_default_talking).
# Session 23: `BUDGET=470 bash benchmarks/gpu_talker.sh` (254 s: 3,200 rendering steps per run), then, on the still
# warm machine, the same `train talker` commands resumed there with --steps 12000 and 14800 (the second stopped at
# its time limit, at 14,515 and 14,594).
set -uo pipefail
CARRY=${CARRY:-out/gpu_carry/talker}
WHL=${WHL:-out/gpu_carry/whl}
DATA=${DATA:-/tmp/gtalk/data}
BUDGET=${BUDGET:-480}
MILESTONES=${MILESTONES:-7500 8500 10000}
DEVICE=${DEVICE:-auto}
OUT=${OUT:-out/gpu}
W=/tmp/gtalk
T0=$(date +%s)
rm -rf $W                                                       # a warm machine keeps the last call's files
mkdir -p "$OUT" $W/meta
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $W/site $WHL/*.whl \
  || exit 1
export PYTHONPATH=$PWD:$W/site PYTHONUNBUFFERED=1
python3 -c "import torch; c = torch.cuda.is_available()
print('torch', torch.__version__, 'cuda', c, torch.cuda.get_device_name(0) if c else '')"
python3 benchmarks/gpu_talker_carry.py unpack --carry "$CARRY" --data "$DATA" || exit 1

run() {   # name, carried checkpoint, exported file's name, extra flags...
  local name=$1 ck=$2 file=$3; shift 3
  mkdir -p $W/$name/talker
  cp "$CARRY/$ck" $W/$name/talker/checkpoint.pt
  local k=0
  for m in $MILESTONES; do
    local left=$(( BUDGET - ($(date +%s) - T0) - 25 ))             # 25 s for packing the results
    [ $left -lt 20 ] && break
    k=$((k + 1))
    python3 -m styletalker train talker --profile default --data "$DATA" --steps $m --device $DEVICE --quiet \
      --ckpt-every 100 --minutes "$(python3 -c "print(round($left / 60, 2))")" --out $W/$name \
      --export $W/$name/export/$file "$@" >> $W/meta/$name.txt 2>&1 || { echo "$name failed"; break; }
    tar czf "$OUT/${name}_$k.tgz" -C $W/$name/export $file.safetensors $file.json
    tail -n 1 $W/meta/$name.txt
    grep -q "^finished" <(tail -n 1 $W/meta/$name.txt) || break   # stopped at the time limit: no later milestone
  done
}
OMP_NUM_THREADS=6 run sync ck_sync.pt talker_default &
OMP_NUM_THREADS=6 run nosync ck_nosync.pt talker_default_nosync --no-sync &
wait
for name in sync nosync; do cp $W/$name/talker/log.jsonl $W/meta/${name}_log.jsonl 2>/dev/null; done
tar czf "$OUT/meta.tgz" -C $W/meta .
ls -la "$OUT"
echo "total $(( $(date +%s) - T0 )) s"
