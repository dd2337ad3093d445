"""Calibrate a talker's lip gain on the validation split (issue 6), and record it in the talker's JSON.

    python benchmarks/calibrate_lip_gain.py [--talker styletalker/weights/talker_default]
        [--gains 1.0,1.2,1.4,1.6,1.8,2.0] [--clips 24] [--write] [--json OUT.json]

The lip gain scales the audio path's offset in W+ at inference (``WManipulation.forward``; training always uses 1).
Why one other than 1: the audio path is trained to reconstruct the mouth by L1, SSIM and the lip-sync loss, and where
the audio leaves the exact opening uncertain such a fit draws the middle of the possible openings, so the lips move
less than real ones (regression to the mean; measured below, 0.74 of the truth's amplitude at gain 1), and at 64 px a
small mouth movement drowns in the landmark reader's noise and in the sync evaluator's.

For each gain: self-reenactment of ``--clips`` validation clips (the clip's own audio and motion, its first frame's
inverted code as W+_ref, exactly as ``talker_bars.py``), the mouth opening (inner-lip gap over mouth width,
``styletalker.face.mouth_opening``) read from the generated and the ground-truth frames through the same landmark
pipeline, and three measures pooled over the clips (each clip's series centred on its mean): r, the correlation of the
generated opening with the true one; the amplitude ratio, the standard deviation of the generated opening over the
truth's; the slope of the generated opening regressed on the true one. The chosen gain is the grid point with the
highest r (ties: the lower gain): the gain at which the lips follow the real ones best. Not the one whose amplitude
ratio reaches 1: on the shipped talker the ratio rose from 0.74 at gain 1 to 0.96 at 2 and never reached 1, while r
peaked at 1.4 and fell beyond 1.6, where the mouth stops being read as a mouth that follows the speech
(docs/benchmarks.md, issue 6, session 24). The same measures of the inversion G_I(Enc_I(x)) of the ground-truth frames
(what W+ shows of the mouth at best) are reported beside. With ``--write`` the gain goes into the talker's metadata
(``lip_gain``, with the table as ``lip_gain_calibration``), where ``talker_bars.py``, ``generation_bars.py``,
``styletalker generate`` and ``st.generate`` take it as their default; ``--lip-gain`` still overrides it. Chosen on
validation identities and sentences, never on the test split the bars use.
"""
from __future__ import annotations

import argparse

import numpy as np

from styletalker.face import FaceAnalyzer, mouth_opening
from styletalker.inversion.invert import load_landmarks
from styletalker.posemetrics import face_landmarks, pearson
from styletalker.talker.generate import SHIPPED_TALKER, render
from calibrate_temperature import finish, start
from calibrate_temperature import record as record_meta
from talker_bars import Clips, add_model_args


def amplitude(gen: list, gt: list) -> dict:
    """Per-clip mouth-opening series, generated and true -> pooled within-clip std ratio, slope and r."""
    centre = lambda xs: np.concatenate([x - np.nanmean(x) for x in xs])                  # noqa: E731
    g, t = centre(gen), centre(gt)
    ok = np.isfinite(g) & np.isfinite(t)
    g, t = g[ok], t[ok]
    return dict(ratio=float(g.std() / t.std()), slope=float((g * t).sum() / (t * t).sum()), r=pearson(g, t))


def calibrate(talker, G, E, data, gains, n_clips: int, split: str = "val") -> dict:
    lm_net, fa = load_landmarks(), FaceAnalyzer()
    clips = Clips(data, E, lm_net, fa, split)
    picks = np.unique(np.linspace(0, clips.n - 1, min(n_clips, clips.n)).round().astype(int))
    truth, inversion = [], []
    for i in picks:
        truth.append(mouth_opening(clips.landmarks(i)[0]))
        inversion.append(mouth_opening(clips.inversion(i, G)[1][0]))
    inv = amplitude(inversion, truth)
    print(f"inversion G_I(Enc_I(x)): amplitude ratio {inv['ratio']:.3f}, slope {inv['slope']:.3f}, r {inv['r']:.3f}",
          flush=True)
    rows = []
    for g in gains:
        series = []
        for i in picks:
            c = clips[i]
            ws = talker.reenact(c["codes"][:1], c["mel"][None], c["codes"][None], lip_gain=g)[0]
            series.append(mouth_opening(face_landmarks(render(G, ws), lm_net, fa)[0]))
        rows.append(dict(lip_gain=g, **amplitude(series, truth)))
        print(f"lip gain {g}: amplitude ratio {rows[-1]['ratio']:.3f}, slope {rows[-1]['slope']:.3f}, "
              f"r {rows[-1]['r']:.3f}", flush=True)
    best = min(rows, key=lambda r: (-r["r"], r["lip_gain"]))
    return dict(chosen=best["lip_gain"], split=split, clips=len(picks), inversion=inv, table=rows)


def record(talker_path, result: dict) -> None:
    """Write the chosen gain into the talker's JSON as ``meta.lip_gain``, the table as ``meta.lip_gain_calibration``."""
    record_meta(talker_path, result, "lip_gain")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--talker", default=str(SHIPPED_TALKER))
    add_model_args(ap)
    ap.add_argument("--gains", default="1.0,1.2,1.4,1.6,1.8,2.0")
    ap.add_argument("--clips", type=int, default=24)
    a, t0, talker, G, E = start(ap, argv, threads=2, what="lip gain")
    res = calibrate(talker, G, E, a.data, [float(g) for g in a.gains.split(",")], a.clips)
    return finish(res, a, argv, t0, "calibrate_lip_gain.py", "lip gain", key="lip_gain")


if __name__ == "__main__":
    main()
