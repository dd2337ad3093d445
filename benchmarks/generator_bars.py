"""Quality, equivariance and speed bars of G_I (issue 3), measured with dlib on the shipped weights.

    python benchmarks/generator_bars.py [--weights styletalker/weights/generator_default]
        [--baseline styletalker/weights/generator_default_baseline] [--data data/cache/default]
        [--n-detect 1000] [--n-fd 2000] [--n-eq 256] [--json docs/generator_bars_default.json]
        [--speed-only | --no-speed]

1. detection  dlib finds a face in >= 97 % of n-detect samples at truncation 0.7 and >= 90 % at 1.0
              (samples are seeds 0..n-1, as ``styletalker sample``).
2. Frechet    distance between dlib 128-D embeddings of n-fd samples (psi 1) and n-fd real train frames, beside the
              floor: the same distance between two disjoint sets of n-fd real frames; aim <= 3x the floor.
3. coverage   share of open mouths and of closed eyes among detected faces, samples vs real frames, each within
              +-30 % (relative) of the real share. Thresholds are fixed on real frames from their ground truth:
              the dlib mouth-opening threshold that best separates jaw_open >= 0.4 from < 0.4 and the EAR threshold
              that best separates eye_open < 0.3 from > 0.7 (balanced accuracy). 1-D Wasserstein distance of the
              landmark yaw proxy reported.
4. EQ-T       StyleGAN3's translation equivariance (PSNR, dB) of the filtered G and of the baseline without
              filtered non-linearities; the bar: filtered >= baseline + 15 dB.
5. speed      synthesis images/s at 64 px, batch 32, on this CPU (torch threads as set), both variants in fp32,
             and G_I in bf16 where the CPU has bfloat16 units (what the main command renders with there).
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np
import torch

from styletalker.data import format as fmt
from styletalker.face import FaceAnalyzer, best_threshold
from styletalker.gan.generator import cpu_has_bf16, resolve_precision, synthesize
from styletalker.gan.metrics import eq_t, face_stats, frechet_distance, generate, wasserstein_1d
from styletalker.data.frames import frame_bank
from styletalker.gan.weights import SHIPPED_GENERATOR, WEIGHTS_DIR, load_generator


def synthesis_speed(G, batch: int = 32, reps: int = 3, precision: str = "fp32") -> float:
    ws = G.sample_ws(batch, seed=0)
    synthesize(G, ws, precision)
    t = time.time()
    for _ in range(reps):
        synthesize(G, ws, precision)
    return batch * reps / (time.time() - t)


def speed_section(G, B) -> dict:
    """Synthesis images/s of G (fp32, and bf16 where this CPU has bfloat16 units, even where they run it slower) and
    of the baseline (fp32), with what precision "auto" picks here."""
    r = dict(filtered=synthesis_speed(G), baseline=synthesis_speed(B), threads=torch.get_num_threads(),
             auto=resolve_precision("auto"))
    if cpu_has_bf16():
        r["filtered_bf16"] = synthesis_speed(G, precision="bf16")
    r["pass"] = max(r["filtered"], r.get("filtered_bf16", 0)) >= 100
    return r


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=str(SHIPPED_GENERATOR))
    ap.add_argument("--baseline", default=str(WEIGHTS_DIR / "generator_default_baseline"))
    ap.add_argument("--data", default="data/cache/default")
    ap.add_argument("--n-detect", type=int, default=1000)
    ap.add_argument("--n-fd", type=int, default=2000)
    ap.add_argument("--n-eq", type=int, default=256)
    ap.add_argument("--json", default=None)
    ap.add_argument("--speed-only", action="store_true", help="only the speed bar (on an idle machine); with --json, "
                    "it replaces the speed entry of that existing file")
    ap.add_argument("--no-speed", action="store_true", help="skip the speed bar (a busy machine); with --json, the "
                    "speed entry of that existing file is kept")
    a = ap.parse_args(argv)
    t0 = time.time()
    G = load_generator(a.weights)
    B = load_generator(a.baseline)
    if a.speed_only:
        sp = speed_section(G, B)
        print(json.dumps(sp, indent=1))
        if a.json and pathlib.Path(a.json).exists():
            res = json.loads(pathlib.Path(a.json).read_text())
            res["speed"] = sp
            pathlib.Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
        return sp
    fa = FaceAnalyzer()
    res = dict(weights=a.weights, baseline=a.baseline, meta=json.loads(pathlib.Path(a.weights).with_suffix(".json")
                                                                        .read_text())["meta"])

    # real frames and their ground truth (frame_bank order = list_clips order)
    bank = frame_bank(a.data, "train", progress=False)
    labels = {k: [] for k in ("mouth", "eye_open")}
    for c in fmt.list_clips(a.data, "train"):
        with np.load(c.with_suffix(".npz")) as z:
            for k in labels:
                labels[k].append(z[k])
    labels = {k: np.concatenate(v) for k, v in labels.items()}
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(bank))[:2 * a.n_fd]
    real = bank[idx].permute(0, 2, 3, 1).numpy()
    real_a, real_b = real[:a.n_fd], real[a.n_fd:]
    fr_a, fr_b = face_stats(real_a, fa), face_stats(real_b, fa)
    print(f"real frames analysed ({time.time() - t0:.0f} s)", file=sys.stderr)

    # 1. detection
    det = {}
    for psi in (0.7, 1.0):
        st = face_stats(generate(G, a.n_detect, psi=psi, seed=0), fa, embeddings=False)
        det[psi] = float(st["found"].mean())
    res["detection"] = {"psi_0.7": det[0.7], "psi_1.0": det[1.0], "real": float(fr_a["found"].mean()),
                        "pass": det[0.7] >= 0.97 and det[1.0] >= 0.90}
    print(f"detection {det} ({time.time() - t0:.0f} s)", file=sys.stderr)

    # 2. Frechet distance of dlib embeddings
    fs = face_stats(generate(G, a.n_fd, psi=1.0, seed=100000), fa)
    e_s, e_a, e_b = (x["embedding"][x["found"]] for x in (fs, fr_a, fr_b))
    fd, floor = frechet_distance(e_s, e_a), frechet_distance(e_b, e_a)
    res["frechet"] = dict(model=fd, floor=floor, ratio=fd / floor, n_model=len(e_s), n_real=len(e_a),
                          **{"pass": fd <= 3 * floor})

    # 3. coverage, thresholds fixed on real frames from their ground truth
    real_all = {k: np.concatenate([fr_a[k], fr_b[k]]) for k in ("found", "ear", "mouth", "yaw")}
    gt_mouth, gt_eye = labels["mouth"][idx, 0], labels["eye_open"][idx]
    f = real_all["found"]
    t_mouth = best_threshold(real_all["mouth"][f], gt_mouth[f] >= 0.4, above=True)
    ear, eo = real_all["ear"][f].ravel(), gt_eye[f].ravel()
    sure = (eo < 0.3) | (eo > 0.7)
    t_ear = best_threshold(ear[sure], eo[sure] < 0.3, above=False)

    def shares(st):
        ok = st["found"]
        return float((st["mouth"][ok] > t_mouth).mean()), float((st["ear"][ok] < t_ear).any(1).mean())

    real_open, real_closed = shares({k: real_all[k] for k in ("found", "ear", "mouth")})
    s_open, s_closed = shares(fs)
    within = lambda s, r: abs(s - r) <= 0.3 * r                     # noqa: E731
    res["coverage"] = dict(
        mouth_threshold=t_mouth, ear_threshold=t_ear, open_mouth=dict(model=s_open, real=real_open),
        closed_eyes=dict(model=s_closed, real=real_closed),
        yaw_w1=wasserstein_1d(fs["yaw"][fs["found"]], real_all["yaw"][f]),
        yaw_std=dict(model=float(np.std(fs["yaw"][fs["found"]])), real=float(np.std(real_all["yaw"][f]))),
        **{"pass": within(s_open, real_open) and within(s_closed, real_closed)})
    print(f"faces done ({time.time() - t0:.0f} s)", file=sys.stderr)

    # 4. equivariance
    eq_g, eq_b = eq_t(G, n=a.n_eq), eq_t(B, n=a.n_eq)
    res["eq_t"] = dict(filtered=eq_g, baseline=eq_b, gap=eq_g - eq_b, **{"pass": eq_g >= eq_b + 15})

    # 5. speed
    if not a.no_speed:
        res["speed"] = speed_section(G, B)
    elif a.json and pathlib.Path(a.json).exists():
        kept = json.loads(pathlib.Path(a.json).read_text()).get("speed")
        if kept is not None:
            res["speed"] = kept
    res["seconds"] = time.time() - t0
    print(json.dumps(res, indent=1))
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
