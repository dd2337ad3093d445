"""Does the frozen D_sync read mouths in G_I's frames? The lip-sync loss (InfoNCE of 5-frame windows against their
audio, ``styletalker.sync.model.sync_loss``) of ground-truth test windows against the same windows re-rendered by G_I
from Enc_I's codes (the talker's own ceiling), with the chance level log(windows) beside.

    python benchmarks/dsync_domain.py [--windows 64] [--seed 0] [--dsync PATH] [--generator G --encoder E]

The pair defaults to the one the talker learns on (``st.paths.talking_pair``), D_sync to the shipped one.

Loss well below chance: D_sync matches the frames to their audio. Far above chance: it confidently mismatches them,
and its gradient, as the talker's sync loss, pushes generated frames off the image manifold (measured: the issue-6
ablation in docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import math

import numpy as np
import torch

from styletalker.data.dataset import ClipWindows
from styletalker.gan.weights import load_generator
from styletalker.inversion.invert import encode, load_encoder
from styletalker.paths import talking_pair
from styletalker.sync.model import load_dsync, sync_loss


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/cache/default")
    ap.add_argument("--windows", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dsync", default=None, help="D_sync file (default: the shipped one)")
    ap.add_argument("--generator", default=None)
    ap.add_argument("--encoder", default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    gdef, edef = talking_pair("default")
    G, E, D = load_generator(a.generator or gdef), load_encoder(a.encoder or edef), load_dsync(a.dsync)
    ds = ClipWindows(a.data, "test", window=5)
    rng = np.random.default_rng(a.seed)
    lengths, off = ds.index["lengths"], ds.offsets
    frames, mel = [], []
    for ci in rng.choice(len(lengths), a.windows, replace=len(lengths) < a.windows):
        s = int(off[ci]) + int(rng.integers(0, lengths[ci] - 5))
        frames.append(np.array(ds.frames[s:s + 5]))
        mel.append(np.asarray(ds.mel[s:s + 5], np.float32))
    x = torch.from_numpy(np.stack(frames))                                   # [B, 5, R, R, 3] uint8
    m = torch.from_numpy(np.stack(mel))                                      # [B, 5, 80, 20]
    with torch.no_grad():
        real = sync_loss(x.permute(0, 1, 4, 2, 3).float() / 255, m, D).item()
        y = G.synthesis(encode(E, x.flatten(0, 1).numpy()))                   # [B * 5, 3, R, R] in [-1, 1]
        gen = sync_loss(((y.clamp(-1, 1) + 1) / 2).view(*x.shape[:2], *y.shape[1:]), m, D).item()
    res = dict(windows=a.windows, ground_truth=real, inversion=gen, chance=math.log(a.windows),
               dsync=a.dsync or "shipped", generator=str(a.generator or gdef), encoder=str(a.encoder or edef))
    print(f"sync loss over {a.windows} test windows: ground truth {real:.2f}, G(Enc_I(x)) {gen:.2f}, "
          f"chance {res['chance']:.2f}")
    if a.json:
        import json
        import pathlib
        pathlib.Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
