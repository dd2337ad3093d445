"""Can a generator architecture draw the world's small features at all? A few-minute CPU diagnostic.

Overfits a handful of real frames (default: 2 validation frames) with every synthesis weight and one free W+ code
per frame trainable (Adam, L1), from scratch, and reports PSNR every 100 steps beside the same run of a plain
convolutional decoder (a free 128 x 8 x 8 input per frame, three upsample + two 3x3 conv blocks) as the reference.
A generator that cannot reproduce eyes and lips of two frames in a few hundred steps will not learn them from 28,000
frames in a GPU session either: run this before spending GPU time on an architecture.

    python benchmarks/generator_capacity.py [--set FIELD=VALUE ...] [--steps 400] [--png out/capacity.png]
        [--json docs/generator_capacity.json]

Measured (session 5, 2-core CPU, 1 thread; docs/benchmarks.md): the default G_I reaches 29.6 dB after 400 steps with
no eyes, and width, depth or the plain leaky ReLU change little. A Fourier input band of 8 cycles (first_cutoff 8)
reaches 30.9 dB with eyes and lips, and the plain decoder 33.6 dB with eyes, nose and lips in 19 s.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from styletalker.cli import _config_overrides                    # noqa: E402
from styletalker.data.frames import frame_bank, to_float          # noqa: E402
from styletalker.gan.capacity import overfit_generator, overfit_plain   # noqa: E402
from styletalker.gan.generator import Generator, GeneratorConfig, generator_config, to_uint8   # noqa: E402


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="GeneratorConfig override")
    ap.add_argument("--data", default="data/cache/default")
    ap.add_argument("--frames", default="0,1500", help="indices into the validation split")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--lr", type=float, default=0.002)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--png", default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    bank = frame_bank(a.data, "val", progress=False)
    x = to_float(bank[[int(i) for i in a.frames.split(",")]])
    torch.manual_seed(0)                                          # G's initial weights, then the codes' z
    G = Generator(generator_config("default", **_config_overrides(a.set, GeneratorConfig)))
    print("style generator", a.set or "(default preset)")
    g_curve, g_img = overfit_generator(G, x, a.steps, lr=a.lr, seed=None)
    print(g_curve)
    print("plain decoder")
    p_curve, p_img = overfit_plain(x, a.steps, lr=a.lr)
    print(p_curve)
    res = dict(config=a.set, frames=a.frames, steps=a.steps, style_generator=g_curve, plain_decoder=p_curve)
    if a.png:
        from PIL import Image
        rows = [np.concatenate(list(to_uint8(t)), 1) for t in (x, g_img, p_img)]
        pathlib.Path(a.png).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.concatenate(rows, 0)).save(a.png)
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
