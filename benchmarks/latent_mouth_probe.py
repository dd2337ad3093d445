"""Does the talker move the mouth with the audio in W+, before G_I draws it? A diagnostic for issue 6.

    python benchmarks/latent_mouth_probe.py [--data data/cache/default] [--clips 40] [--json docs/latent_mouth_probe.json]

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
    mean, coef, b = fit_probe(ctr.reshape(len(ctr), -1), jaw_tr)
    probe = lambda w: (np.asarray(w, np.float32).reshape(len(w), -1) - mean) @ coef + b        # noqa: E731
    res["probe_r_train"] = pearson(probe(ctr), jaw_tr)
    res["probe_r_test_inversions"] = pearson(probe(cte), jaw_te)
    print(f"probe: r {res['probe_r_train']:.3f} on training codes, {res['probe_r_test_inversions']:.3f} on test "
          f"inversions (the ceiling)", flush=True)

    def audio_feats(ds):                                                              # a_t of every frame, per clip
        out = []
        with torch.no_grad():
            for ci in range(len(ds.index["lengths"])):
                s, e = int(ds.offsets[ci]), int(ds.offsets[ci + 1])
                out.append(net.audio(torch.from_numpy(np.asarray(ds.mel[s:e], np.float32))[None])[0].numpy())
        return np.concatenate(out)
    a_tr, a_te = audio_feats(train), audio_feats(test)
    am, ac, ab = fit_probe(a_tr, jaw_tr)
    res["audio_features_jaw_r_test"] = pearson((a_te - am) @ ac + ab, jaw_te)
    print(f"the talker's audio features a_t: a linear probe reads the jaw at r {res['audio_features_jaw_r_test']:.3f} "
          f"on test clips", flush=True)

    n_clips = len(test.index["lengths"])
    pick = np.linspace(0, n_clips - 1, min(a.clips, n_clips)).astype(int)
    pooled = {k: [] for k in ("jaw", "inversion", "still", "sampled", "reenact", "other_audio", "reenact_ws",
                              "inversion_ws", "still_ws")}
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
            out = {}
            for name, m_mel, still in (("still", mel, True), ("sampled", mel, False), ("other_audio", mel_o, True)):
                parts = [net.manipulation(ref, a_c, m)[0] for a_c, m in sample_motion(net, ref, m_mel, still=still,
                                                                                       seed=int(ci))]
                out[name] = torch.cat(parts)
            out["reenact"] = net.reenact(ref, mel, ws[None], ws[:1])[0]
        pooled["jaw"].append(jaw_te[s:s + T])
        pooled["inversion"].append(probe(ws.numpy()))
        for k, v in out.items():
            pooled[k].append(probe(v.numpy()))
        pooled["reenact_ws"].append(out["reenact"].numpy())
        pooled["inversion_ws"].append(ws.numpy())
        pooled["still_ws"].append(out["still"].numpy())
    cat = {k: np.concatenate(v) for k, v in pooled.items()}
    for k in ("inversion", "still", "sampled", "reenact", "other_audio"):
        res[f"r_{k}"] = pearson(cat[k], cat["jaw"])
    # within-clip: a probe fitted on codes centred per clip, read on each clip's outputs centred per clip (how the
    # mouth moves over a clip, whoever speaks)
    centred = np.concatenate([ctr[int(train.offsets[c]):int(train.offsets[c + 1])]
                              - ctr[int(train.offsets[c]):int(train.offsets[c + 1])].mean(0)
                              for c in range(len(train.index["lengths"]))])
    cm, cc, _ = fit_probe(centred.reshape(len(centred), -1), jaw_tr - np.concatenate(
        [np.full(int(n), jaw_tr[int(o):int(o) + int(n)].mean()) for o, n in zip(train.offsets[:-1], train.index["lengths"])]))
    for k in ("inversion_ws", "still_ws", "reenact_ws"):
        got = [(w.reshape(len(w), -1) - w.reshape(len(w), -1).mean(0)) @ cc for w in pooled[k]]
        jaw = [j - j.mean() for j in pooled["jaw"]]
        res[f"within_clip_r_{k.removesuffix('_ws')}"] = pearson(np.concatenate(got), np.concatenate(jaw))
    print("within-clip probe, r with the true jaw: inversions {within_clip_r_inversion:.3f}, audio only "
          "{within_clip_r_still:.3f}, self-reenactment {within_clip_r_reenact:.3f}".format(**res))
    # the head pose through the same kind of probe: does self-reenactment keep it (the motion path's job)?
    pose_tr, pose_te = np.asarray(train.labels["pose"][:, :3]), np.asarray(test.labels["pose"][:, :3])
    for j, axis in enumerate(("yaw", "pitch", "roll")):
        pm, pc, pb = fit_probe(ctr.reshape(len(ctr), -1), pose_tr[:, j])
        gt = np.concatenate([pose_te[int(test.offsets[ci]):int(test.offsets[ci]) + len(r), j]
                             for ci, r in zip(pick, pooled["jaw"])])
        rec = np.concatenate(pooled["reenact_ws"]).reshape(len(gt), -1)
        inv = np.concatenate(pooled["inversion_ws"]).reshape(len(gt), -1)
        res[f"{axis}_r_inversion"] = pearson((inv - pm) @ pc + pb, gt)
        res[f"{axis}_r_reenact"] = pearson((rec - pm) @ pc + pb, gt)
    print("pose through the same probes, inversions / self-reenactment: " + ", ".join(
        f"{x} {res[f'{x}_r_inversion']:.3f} / {res[f'{x}_r_reenact']:.3f}" for x in ("yaw", "pitch", "roll")))
    res["clips"], res["frames"] = len(pick), int(len(cat["jaw"]))
    print("r(probe(W+), true jaw) over {frames} frames of {clips} test clips: inversions {r_inversion:.3f}, "
          "audio only (still) {r_still:.3f}, audio + sampled motion {r_sampled:.3f}, self-reenactment "
          "{r_reenact:.3f}, another clip's audio {r_other_audio:.3f}".format(**res))
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
