"""Calibrate a talker's sampling temperature on the validation split (issue 7), and record it in the talker's JSON.

    python benchmarks/calibrate_temperature.py --talker out/train/prior_default_flow/talker_default
        [--temps 0.5,0.6,0.7,0.85,1.0,1.15] [--sentences 8] [--samples 5] [--rule entropy|steps] [--write]
        [--json OUT.json]

For each temperature: ``--samples`` audio-driven samples (seeds 0..n-1) for each of ``--sentences`` validation clips
(reference: the clip's first frame, audio: the clip's), each sample's head pose estimated from its frames and its
speaking style classified, exactly as ``generation_bars.py`` does on the test split. The chosen temperature is the
one whose pooled style entropy is closest to the validation clips' true one (ties: the higher temperature). With
``--write`` it goes into the talker's metadata (``temperature``, with the table as ``temperature_calibration``),
where ``styletalker generate`` and ``st.generate`` take it as their default; ``--temperature`` still overrides it.

``--rule steps`` (session 26) also measures each temperature's motion over time on the split, as
``motion_smoothness.py --profile-seeds 8 --long 7500`` does, and keeps only temperatures whose style entropy is within
20 % of the truth's, whose 7,500-frame sample's spread changes by at most 15 % from its first to its last 250 frames,
and whose mean step in every band from frame 32 on is within 30 % of the posterior's; of those, the one whose worst
band is closest (:func:`choose`). The entropy rule alone let session 19-24's flows walk up to twice as fast as real
heads after 64 frames (docs/benchmarks.md, issue 7, session 25).

Why a temperature other than 1 at all: a prior fitted by teacher forcing sees true motion as its history; sampling
feeds it its own draws, and small errors compound, so sampled heads move more than real ones (docs/benchmarks.md,
issue 7, session 17). A temperature below 1 narrows each step's spread. It is chosen on validation identities and
sentences, never on the test split that the bars use.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np
import torch

from styletalker.checkpoint import update_meta
from styletalker.inversion.invert import load_landmarks
from styletalker.paths import REPO_DIR
from styletalker.talker.generate import load_talker
from generation_bars import STYLES, clip_styles, entropy, regressor_pose, sample_clip, style_classifier
from motion_smoothness import long_run, split_cache, step_profile
from talker_bars import Clips, add_model_args, load_frozen


def calibrate(talker, G, E, data, temps, sentences: int, samples: int, split: str = "val",
              rule: str = "entropy") -> dict:
    lm_net = load_landmarks()
    clf, est = style_classifier(data), regressor_pose(data, lm_net)
    clips = Clips(data, E, lm_net, None, split)
    true = clip_styles(data, split)
    picks = np.unique(np.linspace(0, clips.n - 1, min(sentences, clips.n)).round().astype(int))
    h_gt = entropy([true[i] for i in picks])
    rows = []
    for T in temps:
        styles = []
        for i in picks:
            c = clips[i]
            for s in range(samples):
                _, f = sample_clip(talker, G, c, T, s, est, lm_net)
                styles.append(str(clf.predict(f[None])[0]))
        rows.append(dict(temperature=T, entropy=entropy(styles), counts={k: styles.count(k) for k in STYLES}))
        print(f"temperature {T}: style entropy {rows[-1]['entropy']:.3f} (truth {h_gt:.3f}), {rows[-1]['counts']}",
              flush=True)
    res = dict(truth_entropy=h_gt, split=split, sentences=len(picks), samples=samples, table=rows, rule=rule)
    if rule == "steps":
        frames, mel, lengths = split_cache(data, split)
        L = np.cumsum([0] + lengths)
        window = int(round(np.mean([lengths[i] for i in picks])))
        for r in rows:
            r.update(long_run(talker, E, frames, mel, 7500, r["temperature"], window),
                     step_profile=step_profile(talker, E, frames, mel, L, r["temperature"], 8))
            r.update(step_checks(r))
            print(f"temperature {r['temperature']}: long-run spread {r['spread_change']:+.1%}, step bands from frame "
                  f"32 {' '.join(f'{x:+.0%}' for x in r['band_deviations'])}", flush=True)
    return dict(chosen=choose(rows, h_gt, rule), **res)


def step_checks(row: dict, first_band: int = 32) -> dict:
    """A temperature's motion over time against the posterior's (the rule ``steps``; session 26): the change of a
    7,500-frame sample's spread from its first to its last 250 frames, and each step-profile band's relative deviation
    from the posterior's step from frame ``first_band`` on (bands past the clips' length are compared with the last
    band the posterior has)."""
    devs, post = [], None
    for band, (prior, q) in sorted(row["step_profile"].items(), key=lambda kv: int(kv[0].split("-")[0])):
        post = q if q is not None else post
        if int(band.split("-")[0]) >= first_band:
            devs.append(prior / post - 1)
    return dict(spread_change=row["long_spread_last"] / row["long_spread_first"] - 1, band_deviations=devs)


def choose(rows: list[dict], h_gt: float, rule: str = "entropy", entropy_tol: float = 0.2, spread_tol: float = 0.15,
           step_tol: float = 0.3) -> float | None:
    """The chosen temperature of a calibration table.

    ``entropy``: the one whose pooled style entropy is closest to the truth's ``h_gt`` (ties: the higher).
    ``steps`` (pre-registered in docs/s26_prereg_temperature_rule.txt): of the temperatures whose entropy is within
    ``entropy_tol`` of the truth's, whose long sample's spread changes by at most ``spread_tol`` and whose step bands
    are all within ``step_tol`` of the posterior's (:func:`step_checks`), the one with the smallest largest band
    deviation. A flow that draws varied styles only at temperatures where it walks slower or faster than real heads has
    none: then None, since no temperature of the grid makes that prior walk like the data."""
    if rule == "entropy":
        return min(rows, key=lambda r: (abs(r["entropy"] - h_gt), -r["temperature"]))["temperature"]
    if rule != "steps":
        raise ValueError(f"unknown rule {rule!r}: entropy or steps")
    ok = [r for r in rows if abs(r["entropy"] / h_gt - 1) <= entropy_tol and abs(r["spread_change"]) <= spread_tol
          and max(abs(x) for x in r["band_deviations"]) <= step_tol]
    if not ok:
        return None
    return min(ok, key=lambda r: (max(abs(x) for x in r["band_deviations"]), -r["temperature"]))["temperature"]


def record(talker_path, result: dict, key: str = "temperature") -> None:
    """Write the chosen value into the talker's JSON as ``meta[key]``, with the rest of ``result`` as
    ``meta[key + "_calibration"]`` (atomically, as ``save_model`` writes it)."""
    update_meta(talker_path, **{key: result["chosen"],
                                f"{key}_calibration": {k: v for k, v in result.items() if k != "chosen"}})


def start(ap: argparse.ArgumentParser, argv, threads: int, what: str) -> tuple:
    """A calibration's start: the shared flags (--threads, --write, --json) added and parsed, then the frozen pair
    and the talker loaded. Returns (args, start time, talker, G_I, Enc_I)."""
    ap.add_argument("--threads", type=int, default=threads)
    ap.add_argument("--write", action="store_true", help=f"record the chosen {what} in the talker's JSON")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    G, E, _ = load_frozen(a)
    return a, t0, load_talker(str(a.talker).removesuffix(".safetensors")).eval(), G, E


def finish(res: dict, a, argv, t0: float, script: str, what: str, key: str = "temperature") -> dict:
    """A calibration's end: the command and time in ``res``, the choice printed, recorded with ``--write`` and saved
    with ``--json``."""
    talker = pathlib.Path(a.talker).resolve()                     # repository-relative where it lies inside it
    talker = talker.relative_to(REPO_DIR) if talker.is_relative_to(REPO_DIR) else talker
    res.update(talker=str(talker), seconds=round(time.time() - t0, 1),
               command=f"python benchmarks/{script} " + " ".join(sys.argv[1:] if argv is None else argv))
    if res["chosen"] is None:
        print(f"no {what} of the grid meets the rule ({res['seconds']:.0f} s): widen the grid or refit the prior; "
              f"nothing recorded")
    else:
        print(f"chosen {what} {res['chosen']} ({res['seconds']:.0f} s)")
    if a.write and res["chosen"] is not None:
        record(a.talker, res, key)
        print(f"recorded in {a.talker}.json")
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    return res


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--talker", required=True, help="the talker with the flow prior")
    add_model_args(ap)
    ap.add_argument("--temps", default="0.5,0.6,0.7,0.85,1.0,1.15", help="the grid (session 21's priors chose 0.6 "
                    "and 0.7, session 20's 0.6 and 0.85, session 19's 0.6 and 1.0)")
    ap.add_argument("--sentences", type=int, default=8)
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--rule", default="entropy", choices=["entropy", "steps"], help="entropy: the style entropy "
                    "closest to the truth's; steps: also walks like the posterior over time (module docstring)")
    a, t0, talker, G, E = start(ap, argv, threads=1, what="temperature")
    res = calibrate(talker, G, E, a.data, [float(t) for t in a.temps.split(",")], a.sentences, a.samples,
                    rule=a.rule)
    return finish(res, a, argv, t0, "calibrate_temperature.py", "temperature")


if __name__ == "__main__":
    main()
