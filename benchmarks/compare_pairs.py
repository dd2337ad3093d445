"""Side-by-side check of candidate (G_I, Enc_I) pairs before shipping one, on held-out test frames of the default set.

    python benchmarks/compare_pairs.py NAME=GENERATOR,ENCODER [NAME=GENERATOR,ENCODER ...]
        [--data data/cache/default] [--n 128] [--json docs/x.json] [--png docs/x.png]

GENERATOR and ENCODER are weight paths without the suffix. For each pair: encoder-only inversion PSNR / SSIM of n test
frames, the share of inversions and of samples (psi 0.7) where dlib finds a face, and CPU synthesis images/s (batch
32, the torch threads as set). The picture has 8 originals on top, then per pair a row of inversions and a row of
samples. A quick screen (about a minute a pair), not a bar: the bars are generator_bars.py and inversion_bars.py.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import time

import numpy as np
import torch

from styletalker.data.frames import frame_bank
from styletalker.face import FaceAnalyzer
from styletalker.gan.generator import to_uint8
from styletalker.gan.metrics import face_stats
from styletalker.gan.weights import load_generator
from styletalker.imagemetrics import psnr, ssim
from styletalker.inversion.invert import check_pair, encode, load_encoder


def screen(G, E, x: torch.Tensor, fa: FaceAnalyzer, seed: int = 0) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """Scores of one pair on frames x in [-1, 1], with its inversions and 8 samples."""
    with torch.no_grad():
        ws = encode(E, x)
        y = torch.cat([G.synthesis(ws[i:i + 32]) for i in range(0, len(ws), 32)])
        z = torch.randn(len(x), G.cfg.z_dim, generator=torch.Generator().manual_seed(seed))
        s = torch.cat([G(z[i:i + 32], psi=0.7) for i in range(0, len(z), 32)])
        t = time.time()
        G.synthesis(ws[:32])
        speed = min(32, len(ws)) / (time.time() - t)
    r = dict(psnr_db=psnr(y, x).mean().item(), ssim=ssim(y, x).mean().item(),
             detect_inversion=float(face_stats(to_uint8(y), fa, embeddings=False)["found"].mean()),
             detect_samples_psi07=float(face_stats(to_uint8(s), fa, embeddings=False)["found"].mean()),
             synthesis_images_per_s=speed, parameters=sum(p.numel() for p in G.synthesis.parameters()))
    return r, y[:8], s[:8]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pairs", nargs="+", help="NAME=GENERATOR,ENCODER")
    ap.add_argument("--data", default="data/cache/default")
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--json", default=None)
    ap.add_argument("--png", default=None)
    a = ap.parse_args(argv)
    bank = frame_bank(a.data, "test", False)
    x = bank[torch.linspace(0, len(bank) - 1, a.n).long()].float() / 127.5 - 1
    fa = FaceAnalyzer()
    res, rows = {}, [("test frames", x[:8])]
    for spec in a.pairs:
        name, _, paths = spec.partition("=")
        gen, _, enc = paths.partition(",")
        if not enc:
            ap.error(f"{spec!r}: expected NAME=GENERATOR,ENCODER")
        G, E = load_generator(gen), load_encoder(enc)
        check_pair(E, G)
        res[name], y, s = screen(G, E, x, fa)
        res[name].update(generator=gen, encoder=enc)
        print(name, json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in res[name].items()}),
              flush=True)
        rows += [(f"{name}: inversions", y), (f"{name}: samples", s)]
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    if a.png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(len(rows), 1, figsize=(8, 1.15 * len(rows)))
        for ax, (title, imgs) in zip(axes, rows):
            ax.imshow(np.concatenate(list(to_uint8(imgs)), 1))
            ax.set_title(title, fontsize=8, loc="left")
            ax.axis("off")
        fig.savefig(a.png, dpi=72, bbox_inches="tight")
    return res


if __name__ == "__main__":
    main()
