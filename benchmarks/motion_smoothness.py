"""How smooth is sampled motion? Frame-to-frame step and spread of the motion codes m_t on test clips of the default
set.

    python benchmarks/motion_smoothness.py [--talker styletalker/weights/talker_default]
        [--encoder styletalker/weights/encoder_default] [--data data/cache/default] [--clips 8]
        [--temperature T] [--long 0] [--no-box] [--split test|val] [--profile-seeds 8] [--by-style 3]

For --clips clips spread over the split (``--split``, test by default): the posterior mean m_t of the clip's Enc_I codes
(motion-controllable mode) and one prior sample for the clip's audio (audio-driven mode, seed 0, at the talker's
recorded temperature, as ``styletalker generate`` samples, unless ``--temperature`` is given).
Prints the mean |m_t - m_(t-1)| and the norm of the per-dimension std over the clip for both, and the mean
frame-to-frame step of the Enc_I codes themselves. A prior whose step is far above the posterior's jitters from frame
to frame (session 9: 0.61 against 0.12; docs/benchmarks.md).

``--long N`` also samples N frames in 250-frame chunks with the state carried, as ``styletalker generate`` does for
long audio (the split's audio, tiled; its first clip's reference), and prints the largest |m_t| and the
spread of the first and last 250 frames: a prior whose motion drifts shows it there (session 10: 7,500 frames). The
spread of a 250-frame window is not comparable with the posterior's, which is taken over each clip (one sentence, about
3 s): a longer window also holds the slower wander. So the long sample's spread is also given over consecutive windows
of the measured clips' mean length (``long_spread_clip_windows``), the posterior spread's like.

The step profile: the mean step of ``--profile-seeds`` chunked prior samples of 960 frames (the split's audio,
concatenated; the first clip's reference) in bands of frames since the start (1-32, 32-64, 64-128, 128-256, 256-512,
512-960), beside the posterior's step in the same bands of every clip of the split (clips are 26-118 frames long, so
its last bands are empty). The prior is fitted on training windows of ``window`` frames (32 until session 25); a prior
whose step grows past that length moves faster than any head it was fitted to (session 25: 0.14 in the first 32
frames, 0.27-0.32 after 64, against the posterior's 0.14-0.16). ``--split val`` measures on the validation split,
where a choice between priors is made.
``--by-style S`` also draws S prior samples for each measured clip and sets their per-clip mean steps beside the
posterior's per-clip steps grouped by the clip's true style (10th, 50th and 90th percentiles), with the share of samples
as slow as the still clips (session 26: real still clips step 0.06-0.10, the shipped flow's samples 0.10-0.18).
``--no-box`` samples without the motion box (``TalkerConfig.prior_box`` = 0): the prior's dynamics alone, which is
where a runaway shows (session 18).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib

import numpy as np
import torch

from styletalker.inversion.invert import SHIPPED_RENDER_ENCODER, encode, load_encoder
from styletalker.talker.generate import SHIPPED_TALKER, load_talker, sample_motion


def step(m: torch.Tensor) -> float:
    """Mean frame-to-frame distance of a sequence [1, T, D] (or [1, T, K, D]: per code)."""
    return (m[0, 1:] - m[0, :-1]).norm(dim=-1).mean().item()


def spread(m: torch.Tensor) -> float:
    return m[0].std(0).norm().item()


BANDS = ((1, 32), (32, 64), (64, 128), (128, 256), (256, 512), (512, 960))


@torch.no_grad()
def step_profile(T, E, frames, mel, L, temperature: float, seeds: int, n: int = 960) -> dict:
    """{"a-b": (the prior's mean step, the posterior's or None)} over the frame bands :data:`BANDS` (module
    docstring): steps m_t - m_(t-1) for t in [a, b)."""
    me = torch.from_numpy(np.asarray(mel[:n], np.float32))[None]
    ref = encode(E, np.array(frames[:1]))                               # encode takes uint8 [N, R, R, 3] as cached
    prior = np.mean([steps(torch.cat([m for _, m in sample_motion(T, ref, me, temperature, seed=s, chunk=250)], 1))
                     for s in range(seeds)], 0)
    post = [steps(T.motion_of(encode(E, np.array(frames[L[k]:L[k + 1]]))[None])) for k in range(len(L) - 1)]
    out = {}
    for a, b in BANDS:
        q = [x[a - 1:b - 1] for x in post if len(x) >= a]
        out[f"{a}-{b}"] = (float(prior[a - 1:b - 1].mean()), float(np.concatenate(q).mean()) if q else None)
    return out


def split_cache(root, split: str) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """A split's cached frames [N, R, R, 3] and mel windows [N, 80, 20] (memory-mapped) and its clip lengths (the
    cache ``styletalker data`` builds)."""
    d = pathlib.Path(root) / ".cache" / split
    lengths = json.loads((d / "index.json").read_text())["lengths"]
    return np.load(d / "frames.npy", mmap_mode="r"), np.load(d / "mel.npy", mmap_mode="r"), lengths


@torch.no_grad()
def long_run(T, E, frames, mel, n: int, temperature: float, window: int) -> dict:
    """One prior sample of ``n`` frames in 250-frame chunks with the state carried (seed 0; the split's audio, tiled;
    its first frame as the reference), as ``styletalker generate`` samples long audio: its largest |m_t|, its step, the
    spread of its first and last 250 frames, and its mean spread over consecutive ``window``-frame windows."""
    me = np.asarray(mel[:min(len(mel), n)], np.float32)
    me = torch.from_numpy(np.resize(me, (n, *me.shape[1:])))[None]                    # tiled to n frames
    ref = encode(E, np.array(frames[:1]))                               # encode takes uint8 [N, R, R, 3] as cached
    m = torch.cat([m for _, m in sample_motion(T, ref, me, temperature, seed=0, chunk=250)], 1)
    windows = float(np.mean([spread(m[:, i:i + window]) for i in range(0, m.shape[1] - window + 1, window)]))
    return dict(long_frames=n, long_max_norm=m[0].norm(dim=-1).max().item(), long_step=step(m),
                long_spread_first=spread(m[:, :250]), long_spread_last=spread(m[:, -250:]),
                long_window_frames=window, long_spread_clip_windows=windows)


def style_steps(posterior: dict, prior: list) -> dict:
    """Per-clip mean steps summarised (n, 10th percentile, median, 90th percentile): the posterior's for each true
    style, the prior samples' pooled, and the share of prior samples that step no more than the still clips' 90th
    percentile (session 26: the priors draw a narrower range of per-clip speeds than the data, and few still ones)."""
    q = lambda v: [len(v), *(float(np.percentile(v, p)) for p in (10, 50, 90))]     # noqa: E731
    out = {f"posterior_{k}": q(v) for k, v in sorted(posterior.items())}
    out["prior"] = q(prior)
    if "still" in posterior:
        out["prior_share_as_slow_as_still"] = float(np.mean(np.array(prior) <= np.percentile(posterior["still"], 90)))
    return out


def steps(m: torch.Tensor) -> np.ndarray:
    """|m_t - m_(t-1)| for t = 1..T-1 of a sequence [1, T, D]: [T - 1]."""
    return (m[0, 1:] - m[0, :-1]).norm(dim=-1).numpy()


def main(argv=None) -> np.ndarray:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--talker", default=str(SHIPPED_TALKER))
    ap.add_argument("--encoder", default=str(SHIPPED_RENDER_ENCODER), help="the talker's encoder (default: "
                    "generation's)")
    ap.add_argument("--data", default="data/cache/default")
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--temperature", type=float, default=None, help="the prior's sampling temperature (default: the "
                    "talker's recorded one)")
    ap.add_argument("--long", type=int, default=0, metavar="N", help="also sample N frames in chunks (0: no)")
    ap.add_argument("--no-box", action="store_true", help="sample without the motion box (the dynamics alone)")
    ap.add_argument("--split", default="test", choices=["test", "val"], help="the clips and audio measured")
    ap.add_argument("--profile-seeds", type=int, default=0, metavar="S", help="also the step profile over time of S "
                    "prior samples of 960 frames against the posterior's (0: no)")
    ap.add_argument("--by-style", type=int, default=0, metavar="S", help="also the per-clip step of the posterior by "
                    "the clip's true style against S prior samples per clip (0: no)")
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    frames, mel, lengths = split_cache(a.data, a.split)
    L = np.cumsum([0] + lengths)
    T, E = load_talker(a.talker).eval(), load_encoder(a.encoder).eval()
    a.temperature = T.default_temperature if a.temperature is None else a.temperature
    if a.no_box:
        T.prior.cfg = dataclasses.replace(T.prior.cfg, prior_box=0.0)
    rows, picked = [], range(0, len(lengths), max(1, len(lengths) // a.clips))[:a.clips]
    by_style = dict(posterior={}, prior=[])
    if a.by_style:
        from generation_bars import clip_styles
        styles = clip_styles(a.data, a.split)
    for k in picked:
        me = torch.from_numpy(np.array(mel[L[k]:L[k + 1]], np.float32))[None]
        with torch.no_grad():
            ws = encode(E, np.array(frames[L[k]:L[k + 1]]))[None]
            mp = T.motion_of(ws)
            a_k, e_k = T.audio(me), T.e_ref(ws[:, 0])
            mq = [T.prior.sample(a_k, e_k, a.temperature, None, torch.Generator().manual_seed(s))[0]
                  for s in range(max(1, a.by_style))]
        rows.append((step(mp), spread(mp), step(mq[0]), spread(mq[0]), step(ws)))
        if a.by_style:
            by_style["posterior"].setdefault(styles[k], []).append(step(mp))
            by_style["prior"] += [step(m) for m in mq]
    r = np.mean(rows, 0)
    box = ", no box" if a.no_box else ""
    print(f"{a.talker} (temperature {a.temperature:g}{box}): posterior step {r[0]:.3f} / spread {r[1]:.3f}; prior "
          f"step {r[2]:.3f} / spread {r[3]:.3f}; Enc_I code step {r[4]:.3f}")
    doc = dict(talker=a.talker, temperature=a.temperature, box=not a.no_box, split=a.split, clips=len(rows),
               posterior_step=r[0], posterior_spread=r[1], prior_step=r[2], prior_spread=r[3], code_step=r[4])
    if a.long:
        w = int(round(np.mean([lengths[k] for k in picked])))    # the posterior spread's window: a clip
        doc.update(long_run(T, E, frames, mel, a.long, a.temperature, w))
        print(f"{a.long} chunked frames: max |m_t| {doc['long_max_norm']:.2f}, step {doc['long_step']:.3f}, spread of "
              f"the first / last 250 frames {doc['long_spread_first']:.3f} / {doc['long_spread_last']:.3f}, over "
              f"{w}-frame windows (the clips' mean length) {doc['long_spread_clip_windows']:.3f}")
    if a.profile_seeds:
        doc["step_profile"] = step_profile(T, E, frames, mel, L, a.temperature, a.profile_seeds)
        for band, (p, q) in doc["step_profile"].items():
            print(f"frames {band}: prior step {p:.3f}, posterior step " + ("-" if q is None else f"{q:.3f}"))
    if a.by_style:
        doc["by_style"] = style_steps(by_style["posterior"], by_style["prior"])
        for name, q in doc["by_style"].items():
            print(f"per-clip step, {name}: {q}")
    if a.json:
        from styletalker.data.format import atomic_write_json
        atomic_write_json(a.json, {k: float(v) if isinstance(v, (np.floating, float)) else v for k, v in doc.items()})
    return r


if __name__ == "__main__":
    main()
