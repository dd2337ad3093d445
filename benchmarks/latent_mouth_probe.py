"""Does the talker move the mouth with the audio in W+, before G_I draws it? A diagnostic for issue 6.

    python benchmarks/latent_mouth_probe.py [--data data/cache/default] [--clips 40]
        [--json docs/latent_mouth_probe.json]

The image-space mouth measures (dlib or the landmark regressor on G_I's frames) cannot tell a talker that does not
move the mouth from a generator that draws no lips. This reads the mouth in W+ instead:
1. probe     ridge regression from Enc_I's W+ code of a frame (flattened, K x D) to the world's true jaw opening,
             fitted on every training frame; its r on the test frames' codes is the ceiling (what W+ holds).
2. talker    test clips, the reference = the clip's first frame's code, the clip's own audio: W+_hat from the audio
             alone (m_t = 0, ``still``), from the audio with the prior's sampled motion, and in self-reenactment (the
             motion from the clip's own codes). r(probe(W+_hat), true jaw) for each, pooled over frames.
3. shuffle   the same with another clip's audio of the same length cut to fit: r with the original jaw (should be ~0).
4. audio     a linear probe from the talker's audio features a_t to the true jaw (fitted on train, r on test): what
             the audio path has to work with.
5. clips     between clips: r of each clip's mean reading with the clip's mean jaw, and with its reference frame's
             jaw (a talker that copies the reference's mouth instead of reading the audio shows the second).
6. pose      yaw, pitch and roll through ridge probes of the same kind, for the inversions, self-reenactment and
             cross-reenactment (the reference another test identity's first frame, the motion and audio this clip's):
             pooled r, and r with each clip's mean taken out of reading and truth (how the head moves within a clip,
             whoever's face it is: what issue 6's cross-reenactment bars score).
"""
from __future__ import annotations

import argparse
import json
import pathlib
import tempfile

import numpy as np
import torch

from styletalker.data.dataset import ClipWindows
from styletalker.inversion.invert import load_encoder
from styletalker.talker.generate import load_talker, sample_motion
from styletalker.talker.train import code_bank


def pearson(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.corrcoef(a, b)[0, 1])


def fit_probe(x: np.ndarray, y: np.ndarray, ridge: float = 1e-3) -> tuple[np.ndarray, np.ndarray, float]:
    """Ridge regression y ~ (x - mean) @ coef + b, the penalty ``ridge`` times the mean feature variance:
    (mean, coef, b)."""
    mean = x.mean(0)
    xc = (x - mean).astype(np.float64)
    gram = xc.T @ xc
    lam = ridge * np.trace(gram) / len(gram)
    coef = np.linalg.solve(gram + lam * np.eye(len(gram)), xc.T @ (y - y.mean()))
    return mean, coef, float(y.mean())


def read(probe: tuple, x: np.ndarray) -> np.ndarray:
    """A probe's reading of codes [N, K, D] (or features [N, F])."""
    mean, coef, b = probe
    return (np.asarray(x, np.float32).reshape(len(x), -1) - mean) @ coef + b


def centred(x: np.ndarray, lengths) -> np.ndarray:
    """x [N, ...] with each clip's mean taken out (clips of ``lengths`` frames, back to back)."""
    ends = np.cumsum(lengths)
    return np.concatenate([x[a:b] - x[a:b].mean(0) for a, b in zip(ends - np.asarray(lengths), ends)])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/cache/default")
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--talker", default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    torch.manual_seed(0)
    E, net = load_encoder(), load_talker(a.talker).eval()
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        train, test = ClipWindows(a.data, "train"), ClipWindows(a.data, "test")
        ctr = np.asarray(code_bank(E, train, pathlib.Path(tmp) / "train", progress=False), np.float32)
        cte = np.asarray(code_bank(E, test, pathlib.Path(tmp) / "test", progress=False), np.float32)
    jaw_tr, jaw_te = np.asarray(train.labels["mouth"][:, 0]), np.asarray(test.labels["mouth"][:, 0])
    jaw_probe = fit_probe(ctr.reshape(len(ctr), -1), jaw_tr)
    res["probe_r_train"] = pearson(read(jaw_probe, ctr), jaw_tr)
    res["probe_r_test_inversions"] = pearson(read(jaw_probe, cte), jaw_te)
    print(f"probe: r {res['probe_r_train']:.3f} on training codes, {res['probe_r_test_inversions']:.3f} on test "
          f"inversions (the ceiling)", flush=True)

    def audio_feats(ds):                                                              # a_t of every frame, per clip
        out = []
        with torch.no_grad():
            for ci in range(len(ds.index["lengths"])):
                s, e = int(ds.offsets[ci]), int(ds.offsets[ci + 1])
                out.append(net.audio(torch.from_numpy(np.asarray(ds.mel[s:e], np.float32))[None])[0].numpy())
        return np.concatenate(out)
    a_probe = fit_probe(audio_feats(train), jaw_tr)
    res["audio_features_jaw_r_test"] = pearson(read(a_probe, audio_feats(test)), jaw_te)
    print(f"the talker's audio features a_t: a linear probe reads the jaw at r {res['audio_features_jaw_r_test']:.3f} "
          f"on test clips", flush=True)

    n_clips = len(test.index["lengths"])
    pick = np.linspace(0, n_clips - 1, min(a.clips, n_clips)).astype(int)
    kinds = ("inversion", "still", "sampled", "reenact", "other_audio", "cross")
    codes = {k: [] for k in kinds}                                   # W+ of each picked clip, per kind
    spans = []                                                       # (first frame, length) of each picked clip
    for n, ci in enumerate(pick):
        s, e = int(test.offsets[ci]), int(test.offsets[ci + 1])
        other = int(pick[(n + len(pick) // 2) % len(pick)])
        so, eo = int(test.offsets[other]), int(test.offsets[other + 1])
        T = min(e - s, eo - so)
        ws = torch.from_numpy(cte[s:s + T])                                          # [T, K, D]
        mel = torch.from_numpy(np.asarray(test.mel[s:s + T], np.float32))[None]    # [1, T, 80, 20]
        mel_o = torch.from_numpy(np.asarray(test.mel[so:so + T], np.float32))[None]
        ref = ws[:1]
        with torch.no_grad():
            for name, m_mel, still in (("still", mel, True), ("sampled", mel, False), ("other_audio", mel_o, True)):
                parts = [net.compose(ref, a_c, m)[0]
                         for a_c, m in sample_motion(net, ref, m_mel, still=still, seed=int(ci))]
                codes[name].append(torch.cat(parts).numpy())
            codes["reenact"].append(net.reenact(ref, mel, ws[None], ws[:1])[0].numpy())
            ref_other = torch.from_numpy(cte[so:so + 1])                    # another identity's face, this motion
            codes["cross"].append(net.reenact(ref_other, mel, ws[None], ws[:1])[0].numpy())
        codes["inversion"].append(ws.numpy())
        spans.append((s, T))
    lengths = [T for _, T in spans]
    truth = lambda labels: np.concatenate([labels[s:s + T] for s, T in spans])          # noqa: E731
    jaw = truth(jaw_te)
    cat = {k: np.concatenate(v) for k, v in codes.items()}
    for k in kinds:
        res[f"r_{k}"] = pearson(read(jaw_probe, cat[k]), jaw)
    # within-clip: a probe fitted on codes centred per clip, read on each clip's outputs centred per clip (how the
    # mouth moves over a clip, whoever speaks)
    tr_lengths = train.index["lengths"]
    wc_probe = fit_probe(centred(ctr, tr_lengths).reshape(len(ctr), -1), centred(jaw_tr, tr_lengths))
    for k in ("inversion", "still", "reenact"):
        res[f"within_clip_r_{k}"] = pearson(read(wc_probe, centred(cat[k], lengths)), centred(jaw, lengths))
    # how far the mouth moves: a regression trained on squared error shrinks its output towards the mean, and a
    # movement much smaller than the inversions' is lost in the landmark noise of 64 px frames
    inv_std = read(wc_probe, centred(cat["inversion"], lengths)).std()
    for k in ("still", "reenact"):
        res[f"within_clip_amplitude_{k}"] = float(read(wc_probe, centred(cat[k], lengths)).std() / inv_std)
    print("within-clip mouth movement against the inversions' (std ratio): audio only {within_clip_amplitude_still:.2f}"
          ", self-reenactment {within_clip_amplitude_reenact:.2f}".format(**res))
    # between clips: does each clip's mean mouth follow the clip's mean jaw (the audio), or the reference frame's jaw?
    ref_jaw = np.array([jaw_te[s] for s, _ in spans])
    clip_jaw = np.array([jaw_te[s:s + T].mean() for s, T in spans])
    ends = np.cumsum(lengths)
    for k in ("inversion", "still", "reenact"):
        r = read(jaw_probe, cat[k])
        means = np.array([r[e - n:e].mean() for e, n in zip(ends, lengths)])
        res[f"clip_mean_r_{k}"] = pearson(means, clip_jaw)
        res[f"clip_mean_vs_reference_jaw_r_{k}"] = pearson(means, ref_jaw)
    print("between clips, each clip's mean reading against its mean jaw / its reference frame's jaw: " + ", ".join(
        f"{k} {res[f'clip_mean_r_{k}']:.3f} / {res[f'clip_mean_vs_reference_jaw_r_{k}']:.3f}"
        for k in ("inversion", "still", "reenact")), flush=True)
    print("within-clip probe, r with the true jaw: inversions {within_clip_r_inversion:.3f}, audio only "
          "{within_clip_r_still:.3f}, self-reenactment {within_clip_r_reenact:.3f}".format(**res))
    # the head pose through the same kind of probe: does self-reenactment keep it (the motion path's job)?
    pose_tr, pose_te = np.asarray(train.labels["pose"][:, :3]), np.asarray(test.labels["pose"][:, :3])
    for j, axis in enumerate(("yaw", "pitch", "roll")):
        pose_probe, gt = fit_probe(ctr.reshape(len(ctr), -1), pose_tr[:, j]), truth(pose_te[:, j])
        for k in ("inversion", "reenact", "cross"):
            reading = read(pose_probe, cat[k])
            res[f"{axis}_r_{k}"] = pearson(reading, gt)
            res[f"{axis}_centred_r_{k}"] = pearson(centred(reading, lengths), centred(gt, lengths))
    print("pose through the same probes, inversions / self-reenactment / cross-reenactment, pooled (centred per "
          "clip): " + ", ".join(f"{x} " + " / ".join(f"{res[f'{x}_r_{k}']:.3f} ({res[f'{x}_centred_r_{k}']:.3f})"
                                                    for k in ("inversion", "reenact", "cross"))
                                for x in ("yaw", "pitch", "roll")))
    res["clips"], res["frames"] = len(pick), int(len(jaw))
    print("r(probe(W+), true jaw) over {frames} frames of {clips} test clips: inversions {r_inversion:.3f}, "
          "audio only (still) {r_still:.3f}, audio + sampled motion {r_sampled:.3f}, self-reenactment "
          "{r_reenact:.3f}, another clip's audio {r_other_audio:.3f}".format(**res))
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
