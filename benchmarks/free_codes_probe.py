"""Does a trained G_I draw eyes and lips when its codes are free? A CPU diagnostic for a (G_I, Enc_I) pair.

    python benchmarks/free_codes_probe.py --generator G --encoder E [--frames 8] [--steps 300]
        [--png docs/generator_free_codes.png] [--json out/free_codes.json]

Takes ``--frames`` test frames spread over the default dataset's test split and draws them three ways:
1. encoder   G(Enc_I(x)), the pair as shipped;
2. refined   G frozen, the W+ codes optimised for ``--steps`` Adam steps from the encoder's (``inversion.refine``:
             MSE + 0.5 (1 - SSIM)): what G's synthesis can draw when the codes are free;
3. tuned     then G.synthesis and the codes trained together for ``--steps`` more (L1): how far the synthesis is from
             drawing the frames.
Reports PSNR over the frame and over a central band around the eyes (rows 20-35, columns 12-51 of 64). If (2) shows
eyes and lips that (1) lacks, the encoder, not the generator, is what loses them. Slow with a first_cutoff 8
generator: about 30 minutes on one thread for 8 frames and 300 + 300 steps.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from styletalker.data.frames import frame_bank, to_float         # noqa: E402
from styletalker.gan.generator import to_uint8                   # noqa: E402
from styletalker.gan.weights import load_generator               # noqa: E402
from styletalker.imagemetrics import psnr                        # noqa: E402
from styletalker.inversion.invert import encode, load_encoder, refine   # noqa: E402


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", required=True)
    ap.add_argument("--encoder", required=True)
    ap.add_argument("--data", default="data/cache/default")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--png", default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    G, E = load_generator(a.generator), load_encoder(a.encoder)
    bank = frame_bank(a.data, "test", progress=False)
    x = to_float(bank[torch.linspace(0, len(bank) - 1, a.frames).long()])
    band = (slice(None), slice(None), slice(20, 36), slice(12, 52))
    def score(y):
        return dict(psnr=psnr(y, x).mean().item(), eye_band_psnr=psnr(y[band], x[band]).mean().item())
    with torch.no_grad():
        ws0 = encode(E, x)
        y0 = G.synthesis(ws0)
    t0 = time.time()
    ws1, _ = refine(G, ws0, x, steps=a.steps, lr=0.01)
    with torch.no_grad():
        y1 = G.synthesis(ws1)
    t1 = time.time()
    G.requires_grad_(True)
    ws = ws1.clone().requires_grad_(True)
    opt = torch.optim.Adam([dict(params=list(G.synthesis.parameters()), lr=0.002), dict(params=[ws], lr=0.01)],
                           betas=(0.9, 0.99))
    for _ in range(a.steps):
        loss = (G.synthesis(ws) - x).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        y2 = G.synthesis(ws)
    res = dict(generator=a.generator, encoder=a.encoder, frames=a.frames, steps=a.steps, encoder_only=score(y0),
               refined=score(y1), tuned=score(y2), seconds_refine=round(t1 - t0, 1),
               seconds_tune=round(time.time() - t1, 1), threads=a.threads)
    for k in ("encoder_only", "refined", "tuned"):
        print(f"{k:<13} PSNR {res[k]['psnr']:.2f} dB, eye band {res[k]['eye_band_psnr']:.2f} dB")
    if a.png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        rows = [("target", x), ("encoder", y0), (f"W+ refined, {a.steps} steps", y1),
                (f"G and codes trained, {a.steps} more", y2)]
        fig, ax = plt.subplots(len(rows), 1, figsize=(12, 1.6 * len(rows)))
        for axis, (title, y) in zip(ax, rows):
            axis.imshow(np.concatenate(list(to_uint8(y)), 1))
            axis.set_title(title, fontsize=8)
            axis.axis("off")
        fig.savefig(a.png, dpi=90, bbox_inches="tight")
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
