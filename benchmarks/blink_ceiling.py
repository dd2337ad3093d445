"""Can G_I draw a closed eye at all? A diagnostic for the blink bars of issues 6 and 7 (session 15).

    python benchmarks/blink_ceiling.py [--generator styletalker/weights/generator_default] [--frames 12] \
        [--steps 150] [--json docs/blink_ceiling.json]

The blink bars read eyes in generated frames through dlib's eye aspect ratio (EAR) on the landmark pipeline of
``posemetrics.face_landmarks``, with the threshold fitted on training clips (``talker_bars.calibrate``). Session 13
found that Enc_I's codes do not carry eye openness; this asks whether any code could. On test-split frames whose eyes
are closed (mean world eye openness < 0.15) and, for contrast, open ones (> 0.9), it reads the EAR of:
1. real       the frames themselves (what the reader sees at 64 px);
2. encoder    G(Enc_I(x));
3. optimised  W+ optimised from Enc_I's code (Adam, lr 0.01) to reconstruct the frame, the squared error weighted
              1 + 30 x a Gaussian bump (1.5 px) around each eye landmark (36-47; ``face_weights``), once on pixels
              alone and once with the landmark regressor's eyelid points also pulled to the true ones
              (``--eyelid-weight``): the most closed eye this generator draws for the frame when asked directly.
A generator that cannot pass (3) cannot show blinks through any encoder or talker: then the blink ceiling is the
generator's. Run it on a new G_I (``--generator``) before retraining what depends on it.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np
import torch

from styletalker.data.dataset import ClipWindows
from styletalker.face import FaceAnalyzer
from styletalker.gan.autoencoder import face_weights
from styletalker.gan.weights import load_generator
from styletalker.imagemetrics import psnr
from styletalker.inversion.invert import check_pair, encode, load_encoder, load_landmarks
from styletalker.inversion.landmarks import to_unit
from styletalker.posemetrics import eye_openness, face_landmarks

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from talker_bars import calibrate, save  # noqa: E402  (issue 6's EAR threshold)

EYES = slice(36, 48)         # both eyes of the 68-point scheme


def to_u8(y: torch.Tensor) -> np.ndarray:
    return ((y.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--generator", default="styletalker/weights/generator_default")
    ap.add_argument("--encoder", default="styletalker/weights/encoder_default")
    ap.add_argument("--data", default="data/cache/default")
    ap.add_argument("--frames", type=int, default=12, help="closed-eye test frames (and a third as many open ones)")
    ap.add_argument("--steps", type=int, default=150, help="optimiser steps (0: read the encoder's inversions only)")
    ap.add_argument("--eyelid-weight", type=float, default=10.0, help="the second optimisation's eyelid term (0: skip)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    torch.manual_seed(0)
    t_start = time.time()
    G, E, L = load_generator(a.generator), load_encoder(a.encoder), load_landmarks()
    check_pair(E, G)
    G.requires_grad_(False)
    L.requires_grad_(False)
    fa = FaceAnalyzer()
    _, thr, fit = calibrate(a.data, L, fa)
    test = ClipWindows(a.data, "test")
    eo = np.asarray(test.labels["eye_open"]).mean(1)
    rng = np.random.default_rng(0)
    n_open = max(1, a.frames // 3)
    idx = np.concatenate([rng.choice(np.flatnonzero(eo < 0.15), a.frames, replace=False),
                          rng.choice(np.flatnonzero(eo > 0.9), n_open, replace=False)])
    closed = np.arange(len(idx)) < a.frames
    x = np.asarray(test.frames[idx])
    lmk = torch.from_numpy(np.asarray(test.labels["landmarks"][idx])).float()
    target = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 127.5 - 1
    R = target.shape[-1]

    def reading(frames) -> dict:
        lm, _, _ = face_landmarks(frames, L, fa)
        ear = eye_openness(lm)
        return dict(ear_closed=float(ear[closed].mean()), ear_closed_min=float(ear[closed].min()),
                    closed_read_closed=float((ear[closed] < thr).mean()), ear_open=float(ear[~closed].mean()),
                    open_read_closed=float((ear[~closed] < thr).mean()))

    res = dict(generator=a.generator, encoder=a.encoder, ear_threshold=thr, calibration=fit,
               frames=dict(closed=int(closed.sum()), open=int((~closed).sum())), real=reading(x))
    ws0 = encode(E, x)
    with torch.no_grad():
        y0 = G.synthesis(ws0)
    res["encoder"] = dict(reading(to_u8(y0)), psnr=psnr(y0, target).mean().item())
    print(f"EAR threshold {thr:.3f}; real: {res['real']}\nencoder: {res['encoder']}", flush=True)
    # the training stages' face weights on the eyes alone (each image's mean weight 1: with Adam on per-image codes the
    # scale does not matter)
    w_eye, lm_t = face_weights(lmk, R, face_weight=30.0, sigma_px=1.5, points=EYES), to_unit(lmk, R)
    runs = [("optimised_pixels", 0.0)] + ([("optimised_eyelids", a.eyelid_weight)] if a.eyelid_weight > 0 else [])
    runs = runs if a.steps > 0 else []                               # --steps 0: the encoder's reading only
    for name, lw in runs:
        ws = ws0.clone().requires_grad_(True)
        opt = torch.optim.Adam([ws], lr=0.01)
        t0 = time.time()
        for _ in range(a.steps):
            y = G.synthesis(ws)
            loss = ((y - target).pow(2) * w_eye).mean()
            if lw:
                loss = loss + lw * (L(y)[:, EYES] - lm_t[:, EYES]).pow(2).sum(-1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            y = G.synthesis(ws)
        res[name] = dict(reading(to_u8(y)), psnr=psnr(y, target).mean().item(), steps=a.steps, eyelid_weight=lw,
                         seconds=round(time.time() - t0, 1))
        print(f"{name}: {res[name]}", flush=True)
    res["seconds"] = round(time.time() - t_start, 1)
    res["command"] = "python benchmarks/blink_ceiling.py " + " ".join(sys.argv[1:] if argv is None else argv)
    return save(res, a.json)


if __name__ == "__main__":
    main()
