"""How smooth is sampled motion? Frame-to-frame step and spread of the motion codes m_t on test clips of the default
set.

    python benchmarks/motion_smoothness.py [--talker styletalker/weights/talker_default]
        [--encoder styletalker/weights/encoder_default] [--data data/cache/default] [--clips 8]
        [--temperature T] [--long 0] [--no-box]

For --clips test clips spread over the test split: the posterior mean m_t of the clip's Enc_I codes
(motion-controllable mode) and one prior sample for the clip's audio (audio-driven mode, seed 0, at the talker's
recorded temperature, as ``styletalker generate`` samples, unless ``--temperature`` is given).
Prints the mean |m_t - m_(t-1)| and the norm of the per-dimension std over the clip for both, and the mean
frame-to-frame step of the Enc_I codes themselves. A prior whose step is far above the posterior's jitters from frame
to frame (session 9: 0.61 against 0.12; docs/benchmarks.md).

``--long N`` also samples N frames in 250-frame chunks with the state carried, as ``styletalker generate`` does for
long audio (the test split's audio, tiled; the first test clip's reference), and prints the largest |m_t| and the
spread of the first and last 250 frames: a prior whose motion drifts shows it there (session 10: 7,500 frames).
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
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    d = pathlib.Path(a.data) / ".cache" / "test"                  # the test split's cache (styletalker data builds it)
    lengths = json.loads((d / "index.json").read_text())["lengths"]
    L = np.cumsum([0] + lengths)
    frames, mel = np.load(d / "frames.npy", mmap_mode="r"), np.load(d / "mel.npy", mmap_mode="r")
    T, E = load_talker(a.talker).eval(), load_encoder(a.encoder).eval()
    a.temperature = T.default_temperature if a.temperature is None else a.temperature
    if a.no_box:
        T.prior.cfg = dataclasses.replace(T.prior.cfg, prior_box=0.0)
    rows = []
    for k in range(0, len(lengths), max(1, len(lengths) // a.clips))[:a.clips]:
        x = torch.from_numpy(np.array(frames[L[k]:L[k + 1]])).permute(0, 3, 1, 2).float() / 127.5 - 1
        me = torch.from_numpy(np.array(mel[L[k]:L[k + 1]], np.float32))[None]
        with torch.no_grad():
            ws = encode(E, x)[None]
            mp = T.motion_of(ws)
            mq, _ = T.prior.sample(T.audio(me), T.e_ref(ws[:, 0]), a.temperature, None,
                                   torch.Generator().manual_seed(0))
        rows.append((step(mp), spread(mp), step(mq), spread(mq), step(ws)))
    r = np.mean(rows, 0)
    box = ", no box" if a.no_box else ""
    print(f"{a.talker} (temperature {a.temperature:g}{box}): posterior step {r[0]:.3f} / spread {r[1]:.3f}; prior "
          f"step {r[2]:.3f} / spread {r[3]:.3f}; Enc_I code step {r[4]:.3f}")
    doc = dict(talker=a.talker, temperature=a.temperature, box=not a.no_box, clips=len(rows),
               posterior_step=r[0], posterior_spread=r[1], prior_step=r[2], prior_spread=r[3], code_step=r[4])
    if a.long:
        x = torch.from_numpy(np.array(frames[:1])).permute(0, 3, 1, 2).float() / 127.5 - 1
        me = np.asarray(mel[:min(len(mel), a.long)], np.float32)
        me = torch.from_numpy(np.resize(me, (a.long, *me.shape[1:])))[None]          # tiled to N frames
        with torch.no_grad():
            m = torch.cat([m for _, m in sample_motion(T, encode(E, x), me, a.temperature, seed=0, chunk=250)], 1)
        print(f"{a.long} chunked frames: max |m_t| {m[0].norm(dim=-1).max():.2f}, step {step(m):.3f}, spread of the "
              f"first / last 250 frames {spread(m[:, :250]):.3f} / {spread(m[:, -250:]):.3f}")
        doc.update(long_frames=a.long, long_max_norm=m[0].norm(dim=-1).max().item(), long_step=step(m),
                   long_spread_first=spread(m[:, :250]), long_spread_last=spread(m[:, -250:]))
    if a.json:
        from styletalker.data.format import atomic_write_json
        atomic_write_json(a.json, {k: float(v) if isinstance(v, (np.floating, float)) else v for k, v in doc.items()})
    return r


if __name__ == "__main__":
    main()
