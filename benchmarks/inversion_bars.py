"""Bars of the GAN-inversion encoder Enc_I (issue 4), measured on held-out test identities of the default dataset.

    python benchmarks/inversion_bars.py [--encoder styletalker/weights/encoder_default]
        [--generator styletalker/weights/generator_default] [--data data/cache/default] [--n 256]
        [--refine-n 16 --refine-steps 100] [--json docs/inversion_bars_default.json]

1. fidelity     encoder-only inversion of n test frames (spread evenly over the test split): PSNR >= 26 dB and
                SSIM >= 0.90 (64 px, images in [-1, 1]).
2. landmarks    dlib's 68 landmarks of each inversion against those of its original: mean error <= 4 % of the
                inter-ocular distance (outer eye corners), mouth points 48-67 reported separately; dlib embedding
                distance original-inversion <= 0.35. Over the pairs where dlib finds both faces; the detection rate
                of inversions (and of originals) is reported beside.
3. editability  inverted codes moved by +-1 standard deviation along each of the first 5 PCA directions of W
                (notebook 02's GANSpace directions): dlib still detects a face in >= 95 % of edited images.
4. speed        encoder images/s at 64 px, batch 256, with the torch threads as set (2 on this machine); the
                optimisation refinement (Adam on W+, pixel MSE + (1 - SSIM)) from the encoder's output: time per
                image (batched over refine-n images) and PSNR gain; and plain optimisation from w_avg for the same
                steps, for the quality-against-time comparison.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np
import torch

from styletalker.data.frames import frame_bank
from styletalker.face import MOUTH, FaceAnalyzer, embedding_distance, landmark_error
from styletalker.gan.directions import edit, pca_directions
from styletalker.gan.generator import to_uint8
from styletalker.gan.metrics import face_stats
from styletalker.gan.weights import SHIPPED_GENERATOR, load_generator
from styletalker.imagemetrics import psnr, ssim
from styletalker.inversion.invert import SHIPPED_ENCODER, check_pair, encode, load_encoder, refine


def encoder_speed(E, batch: int = 256, reps: int = 5) -> float:
    x = torch.rand(batch, 3, E.cfg.resolution, E.cfg.resolution) * 2 - 1
    with torch.no_grad():
        E(x)
        t = time.time()
        for _ in range(reps):
            E(x)
    return batch * reps / (time.time() - t)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", default=str(SHIPPED_ENCODER))
    ap.add_argument("--generator", default=str(SHIPPED_GENERATOR))
    ap.add_argument("--data", default="data/cache/default")
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--refine-n", type=int, default=16)
    ap.add_argument("--refine-steps", type=int, default=100)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    t0 = time.time()
    G, E = load_generator(a.generator), load_encoder(a.encoder)
    check_pair(E, G)
    bank = frame_bank(a.data, "test", False)
    idx = torch.linspace(0, len(bank) - 1, a.n).long()
    x = bank[idx].float() / 127.5 - 1                                           # [n, 3, R, R]
    ws = encode(E, x)
    with torch.no_grad():
        y = torch.cat([G.synthesis(ws[i:i + 64]) for i in range(0, len(ws), 64)])
    r = dict(n=a.n, test_frames=len(bank), threads=torch.get_num_threads())
    r["psnr_db"] = psnr(y, x).mean().item()
    r["ssim"] = ssim(y, x).mean().item()
    print(f"fidelity: PSNR {r['psnr_db']:.2f} dB (bar >= 26), SSIM {r['ssim']:.3f} (bar >= 0.90)", flush=True)

    fa = FaceAnalyzer()
    orig = face_stats(bank[idx].permute(0, 2, 3, 1).numpy(), fa)
    inv = face_stats(to_uint8(y), fa)
    both = orig["found"] & inv["found"]
    r["detect_original"] = float(orig["found"].mean())
    r["detect_inversion"] = float(inv["found"].mean())
    r["pairs"] = int(both.sum())
    if both.any():
        r["landmark_error_iod"] = float(landmark_error(inv["landmarks"][both], orig["landmarks"][both]).mean())
        r["mouth_landmark_error_iod"] = float(landmark_error(inv["landmarks"][both], orig["landmarks"][both],
                                                             MOUTH).mean())
        r["embedding_distance"] = float(embedding_distance(inv["embedding"][both], orig["embedding"][both]).mean())
    else:
        r["landmark_error_iod"] = r["mouth_landmark_error_iod"] = r["embedding_distance"] = None
    print(f"landmarks: dlib finds {r['detect_original']:.1%} of originals and {r['detect_inversion']:.1%} of "
          f"inversions; over {r['pairs']} pairs: error {r['landmark_error_iod']} IOD (bar <= 0.04), mouth "
          f"{r['mouth_landmark_error_iod']}, embedding distance {r['embedding_distance']} (bar <= 0.35)", flush=True)

    d = pca_directions(G)
    edited = []
    sub = ws[:: max(1, a.n // 64)][:64]
    for k in range(5):
        for s in (-1.0, 1.0):
            coeffs = [0.0] * (k + 1)
            coeffs[k] = s
            with torch.no_grad():
                edited.append(to_uint8(G.synthesis(edit(sub, d, coeffs))))
    found = face_stats(np.concatenate(edited), fa, embeddings=False)["found"]
    r["edit_detect"] = float(found.mean())
    r["edit_images"] = int(len(found))
    print(f"editability: dlib detects {r['edit_detect']:.1%} of {len(found)} edited inversions (bar >= 95%)",
          flush=True)

    r["encoder_images_per_s"] = encoder_speed(E)
    xr = x[:: max(1, a.n // a.refine_n)][:a.refine_n]
    t = time.time()
    _, curve = refine(G, encode(E, xr), xr, a.refine_steps)
    r["refine_seconds_per_image"] = (time.time() - t) / len(xr)
    r["refine_psnr_before"], r["refine_psnr_after"] = curve[0], curve[-1]
    t = time.time()
    _, curve0 = refine(G, G.w_avg.expand(len(xr), G.num_ws, -1).clone(), xr, a.refine_steps)
    r["optimise_only_seconds_per_image"] = (time.time() - t) / len(xr)
    r["optimise_only_psnr"] = curve0[-1]
    r["refine_steps"] = a.refine_steps
    print(f"speed: encoder {r['encoder_images_per_s']:.0f} img/s (bar >= 200) with {r['threads']} threads; "
          f"refinement ({a.refine_steps} steps) {r['refine_seconds_per_image']:.2f} s/image, PSNR "
          f"{curve[0]:.2f} -> {curve[-1]:.2f} dB; optimisation alone from w_avg: {curve0[-1]:.2f} dB", flush=True)
    r["bars"] = dict(psnr=r["psnr_db"] >= 26, ssim=r["ssim"] >= 0.90,
                     landmarks=r["landmark_error_iod"] is not None and r["landmark_error_iod"] <= 0.04,
                     embedding=r["embedding_distance"] is not None and r["embedding_distance"] <= 0.35,
                     editability=r["edit_detect"] >= 0.95, speed=r["encoder_images_per_s"] >= 200)
    r["seconds"] = time.time() - t0
    r["encoder"], r["generator"] = a.encoder, a.generator
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(r, indent=1) + "\n")
    print(json.dumps(r["bars"]))
    return r


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
