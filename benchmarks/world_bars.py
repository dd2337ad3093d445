"""Quality bars of the synthetic world (issue 2), measured on a built dataset with dlib and sklearn.

    python benchmarks/world_bars.py DATASET_DIR [--frames 1000] [--seed 0] [--json OUT] [--workers 1]
                                    [--upsample 0] [--target-side 256] [--ids-per-identity 6]

Bars (each printed as value / target / PASS-FAIL):

1. detection   N random frames (seeded, uniform over all frames of all clips of all splits): dlib's HOG detector
               (through FaceAnalyzer: bicubic upscaling to ``--target-side`` px, ``--upsample`` pyramid levels) finds
               exactly one face in >= 98 % of them.
2. landmarks   on the frames with exactly one face:
               - Pearson r between dlib's mouth_opening(landmarks) and the ground-truth jaw_open (npz mouth[:, 0])
                 >= 0.9;
               - eyes: every (frame, eye) with ground-truth eye_open < 0.3 is "closed", > 0.7 "open", in-between
                 ignored. The frames are split in two random halves; the EAR threshold is chosen on half A (the one
                 that maximises balanced accuracy there) and evaluated on half B: accuracy >= 95 % (the balanced
                 accuracy is reported too: closed eyes are rare, so plain accuracy is dominated by open eyes);
               - landmark_error(dlib, gt) (mean L2 over the points / gt inter-ocular distance, outer eye corners
                 36-45), averaged over frames: all 68 points < 8 %, mouth 48-67 < 6 %; per-group errors reported.
3. identity    dlib 128-D embeddings of one random frame from each of up to ``--ids-per-identity`` different clips
               per identity (frames where a face is found), all pairs: ROC AUC of -distance for same vs different
               identity >= 0.95; mean same / different distances reported.
4. sync        per clip: z-scored ground-truth jaw_open per frame and z-scored audio energy envelope per frame
               (energy_envelope of the mp4's decoded audio track, frame t = samples [t/fps, (t+1)/fps)).
               C(lag) = sum over clips and t of zm[t] * za[t + lag] / count, for lag in -10..10 frames.
               SIGN: a positive lag means the mouth LEADS the audio (the mouth at frame t matches the sound at frame
               t + lag). The bar: |argmax C - LIP_LEAD_S * fps| <= 1 frame. The same from dlib's mouth opening on
               every frame of ``--dlib-sync-clips`` clips (optional, reported only).
5. styles      per clip speaking style (json 'style'), logistic regression (standardised), out-of-fold predictions
               from 5-fold StratifiedGroupKFold grouped by identity:
               - from head pose (npz pose): log std of yaw/pitch/roll and of their frame-to-frame differences, and
                 relative + log band energies of the pitch angle's spectrum -> accuracy >= 90 %;
               - from audio: mean and std over time of the 80 log-mel bands, plus energy-envelope stats -> accuracy
                 <= chance + 10 points (chance = majority-class share): the style must not be audible.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import pathlib
import sys
import time

import numpy as np

from styletalker.audio import MelConfig, energy_envelope, log_mel
from styletalker.data import format as fmt
from styletalker.face import MOUTH, FaceAnalyzer, balanced_accuracy, best_threshold, embedding_distance, \
    eye_aspect_ratio, landmark_error, mouth_opening
from styletalker.videoio import read_video, read_video_audio
from styletalker.world.behaviour import LIP_LEAD_S, STYLES

GROUPS = dict(jaw=slice(0, 17), brows=slice(17, 27), nose=slice(27, 36), eyes=slice(36, 48), mouth=slice(48, 68))
MAX_LAG = 10
PITCH_BANDS_HZ = ((0.0, 0.5), (0.5, 1.5), (1.5, 2.0), (2.0, 3.0), (3.0, 4.5), (4.5, 12.5))


# ------------------------------------------------------------------------------------------------ per-clip work

def _audio_features(audio: np.ndarray | None, n_frames: int, fps: int, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """(energy envelope [T], audio feature vector [80 * 2 + 6]) of one clip's decoded audio track."""
    need = int(round(n_frames * sr / fps))
    a = np.zeros(max(need, 1024), np.float32)
    if audio is not None:
        a[:min(len(a), len(audio))] = audio[:len(a)]
    env = energy_envelope(a, sr, fps, n_frames)                                  # [T]
    mel = log_mel(a, MelConfig(sample_rate=sr)).numpy()                          # [80, F]
    e = env / (env.max() + 1e-8)
    stats = [env.mean(), env.std(), env.max(), np.abs(np.diff(e)).mean() if len(e) > 1 else 0.0,
             (e > 0.5).mean(), (e < 0.1).mean()]
    return env, np.concatenate([mel.mean(1), mel.std(1), np.log(np.asarray(stats[:3]) + 1e-6), stats[3:]])


def process_clip(job: dict) -> dict:
    """Decode what one clip needs and run dlib on its sampled frames. Runs in a worker process."""
    base = pathlib.Path(job["base"])
    n = job["n_frames"]
    out = dict(base=job["base"], frames={}, ident=None, dlib_mouth=None, closed={})
    analyzer = FaceAnalyzer(target_side=job["target_side"], upsample=job["upsample"])
    want = sorted(set(job["frames"]) | set(job["closed_frames"])
                  | ({job["ident_frame"]} if job["ident_frame"] is not None else set()))
    if want or job["dlib_sync"]:
        video, _ = read_video(base.with_suffix(".mp4"))                          # [T', H, W, 3]
        out["decoded_frames"] = int(len(video))
        for t in want:
            if t >= len(video):
                out["frames"][t] = dict(n_faces=-1, landmarks=None)             # missing frame: counts as a miss
                continue
            res = analyzer.analyze(video[t])
            rec = dict(n_faces=0 if res is None else res.n_faces,
                       landmarks=None if res is None else res.landmarks)
            if t == job["ident_frame"] and res is not None:
                out["ident"] = res.embedding
            if t in job["frames"]:
                out["frames"][t] = rec
            if t in job["closed_frames"]:
                out.setdefault("closed", {})[t] = rec
        if job["dlib_sync"]:
            mo = np.full(n, np.nan)
            for t in range(min(n, len(video))):
                lm = analyzer.landmarks(video[t])
                if lm is not None:
                    mo[t] = mouth_opening(lm)
            out["dlib_mouth"] = mo
    audio = read_video_audio(base.with_suffix(".mp4"), job["sample_rate"])
    out["has_audio"] = audio is not None
    out["envelope"], out["audio_features"] = _audio_features(audio, n, job["fps"], job["sample_rate"])
    return out


# ------------------------------------------------------------------------------------------------ measures

def pose_features(pose: np.ndarray, fps: int) -> np.ndarray:
    """pose [T, 6] -> log std of the 3 angles and of their frame differences, pitch band energies."""
    ang = pose[:, :3].astype(np.float64)
    f = [np.log(ang.std(0) + 1e-3), np.log(np.diff(ang, axis=0).std(0) + 1e-3)]
    p = ang[:, 1] - ang[:, 1].mean()
    p = p * np.hanning(len(p))
    power = np.abs(np.fft.rfft(p)) ** 2
    hz = np.fft.rfftfreq(len(p), 1.0 / fps)
    bands = np.array([power[(hz >= lo) & (hz < hi)].sum() for lo, hi in PITCH_BANDS_HZ])
    f += [bands / (bands.sum() + 1e-9), np.log(bands + 1e-6)]
    return np.concatenate(f)


def xcorr_pooled(a_list, b_list, max_lag: int = MAX_LAG) -> np.ndarray:
    """C(lag) for lag in -max_lag..max_lag: pooled mean of za[t] * zb[t + lag] over clips (z-scored per clip);
    NaNs in either series are skipped."""
    num = np.zeros(2 * max_lag + 1)
    cnt = np.zeros(2 * max_lag + 1)
    for a, b in zip(a_list, b_list):
        a = np.asarray(a, np.float64)
        b = np.asarray(b, np.float64)
        m = min(len(a), len(b))
        a, b = a[:m], b[:m]
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < 3 or np.nanstd(a[ok]) == 0 or np.nanstd(b[ok]) == 0:
            continue
        za = (a - a[ok].mean()) / a[ok].std()
        zb = (b - b[ok].mean()) / b[ok].std()
        for k, lag in enumerate(range(-max_lag, max_lag + 1)):
            if lag >= 0:
                x, y = za[:m - lag], zb[lag:]
            else:
                x, y = za[-lag:], zb[:m + lag]
            v = np.isfinite(x) & np.isfinite(y)
            num[k] += (x[v] * y[v]).sum()
            cnt[k] += v.sum()
    return num / np.maximum(cnt, 1)


def peak_lag(c: np.ndarray, max_lag: int = MAX_LAG) -> tuple[int, float]:
    """(integer argmax lag, sub-frame lag by a parabola through the peak and its neighbours)."""
    k = int(np.argmax(c))
    sub = float(k)
    if 0 < k < len(c) - 1:
        d = c[k - 1] - 2 * c[k] + c[k + 1]
        if d < 0:
            sub = k + 0.5 * (c[k - 1] - c[k + 1]) / d
    return k - max_lag, sub - max_lag


def style_cv(x: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    n_splits = min(5, len(np.unique(groups)))
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    pred = cross_val_predict(model, x, y, groups=groups, cv=cv)
    folds = [float(np.mean(pred[te] == y[te])) for _, te in cv.split(x, y, groups)]
    return dict(accuracy=float(np.mean(pred == y)), fold_accuracy=folds, n_splits=n_splits)


# ------------------------------------------------------------------------------------------------ main

def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--upsample", type=int, default=0, help="dlib detector pyramid upsamplings")
    ap.add_argument("--target-side", type=int, default=256, help="FaceAnalyzer upscaling target (px)")
    ap.add_argument("--ids-per-identity", type=int, default=6)
    ap.add_argument("--closed-per-clip", type=int, default=1,
                    help="extra closed-eye frames per clip for the blink-enriched eye measure (info); 0 = skip")
    ap.add_argument("--dlib-sync-clips", type=int, default=8,
                    help="clips analysed on every frame for the (optional) dlib mouth-audio lag; 0 = skip")
    a = ap.parse_args(argv)
    t_start = time.time()
    root = pathlib.Path(a.dataset)
    man = fmt.read_manifest(root)
    fps, sr = int(man["fps"]), int(man["sample_rate"])
    rng = np.random.default_rng(a.seed)

    clips = [c for s in fmt.SPLITS for c in fmt.list_clips(root, s)]
    metas = [json.loads(c.with_suffix(".json").read_text()) for c in clips]
    lengths = np.array([int(m["n_frames"]) for m in metas])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    total = int(offsets[-1])
    n_sample = min(a.frames, total)
    flat = np.sort(rng.choice(total, n_sample, replace=False))
    clip_of = np.searchsorted(offsets, flat, side="right") - 1
    sampled = {i: [] for i in range(len(clips))}
    for g, ci in zip(flat, clip_of):
        sampled[int(ci)].append(int(g - offsets[ci]))

    # identity frames: one random frame from each of up to K clips per identity (clips chosen at random)
    ident_names = sorted({m["identity"] for m in metas})
    by_ident = {name: [i for i, m in enumerate(metas) if m["identity"] == name] for name in ident_names}
    ident_frame = {}
    for name, idx in by_ident.items():
        for i in rng.permutation(idx)[:a.ids_per_identity]:
            ident_frame[int(i)] = int(rng.integers(lengths[i]))
    # blink-enriched eye set: up to --closed-per-clip extra frames per clip where a ground-truth eye is < 0.3 open
    closed_frames = {}
    for i, c in enumerate(clips):
        eo = np.load(c.with_suffix(".npz"))["eye_open"]
        cand = np.flatnonzero(eo.min(1) < 0.3)
        closed_frames[i] = [int(t) for t in rng.permutation(cand)[:a.closed_per_clip]]
    sync_dlib = set(int(i) for i in rng.permutation(len(clips))[:a.dlib_sync_clips])

    jobs = [dict(base=str(c), n_frames=int(lengths[i]), frames=sampled[i], ident_frame=ident_frame.get(i),
                 closed_frames=closed_frames[i],
                 dlib_sync=i in sync_dlib, upsample=a.upsample, target_side=a.target_side, fps=fps,
                 sample_rate=sr) for i, c in enumerate(clips)]
    print(f"{root}: {len(clips)} clips, {len(ident_names)} identities, {total} frames, {man['resolution']} px; "
          f"sampling {n_sample} frames, {len(ident_frame)} identity frames, {len(sync_dlib)} dlib-sync clips",
          file=sys.stderr)
    results = [None] * len(jobs)
    if a.workers > 1:
        with cf.ProcessPoolExecutor(a.workers) as pool:
            futs = {pool.submit(process_clip, j): i for i, j in enumerate(jobs)}
            for k, f in enumerate(cf.as_completed(futs)):
                results[futs[f]] = f.result()
                if (k + 1) % 50 == 0:
                    print(f"  {k + 1}/{len(jobs)} clips, {time.time() - t_start:.0f} s", file=sys.stderr)
    else:
        for k, j in enumerate(jobs):
            results[k] = process_clip(j)
            if (k + 1) % 50 == 0:
                print(f"  {k + 1}/{len(jobs)} clips, {time.time() - t_start:.0f} s", file=sys.stderr)
    t_analysis = time.time() - t_start

    labels = [np.load(c.with_suffix(".npz")) for c in clips]
    report = dict(dataset=str(root), resolution=man["resolution"], n_clips=len(clips), n_identities=len(ident_names),
                  n_frames_total=total, n_sampled=n_sample, seed=a.seed, upsample=a.upsample,
                  target_side=a.target_side)
    bars = []

    def bar(name, value, target, ok, note=""):
        bars.append(dict(bar=name, value=value, target=target, passed=bool(ok), note=note))

    # 1. detection
    n_faces = np.array([results[ci]["frames"][t]["n_faces"] for ci in range(len(clips)) for t in sampled[ci]])
    det = float(np.mean(n_faces == 1))
    report["detection"] = dict(one_face=det, zero=int(np.sum(n_faces == 0)), several=int(np.sum(n_faces > 1)),
                               missing_decode=int(np.sum(n_faces < 0)))
    bar("detection: exactly one face", det, ">= 0.98", det >= 0.98,
        f"0 faces: {report['detection']['zero']}, >1: {report['detection']['several']}")

    # 2. landmarks on single-face frames
    pred, gt, jaw, eyes_gt, who = [], [], [], [], []
    for ci in range(len(clips)):
        for t in sampled[ci]:
            r = results[ci]["frames"][t]
            if r["n_faces"] == 1:
                pred.append(r["landmarks"])
                gt.append(labels[ci]["landmarks"][t])
                jaw.append(labels[ci]["mouth"][t, 0])
                eyes_gt.append(labels[ci]["eye_open"][t])
                who.append(ci)
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    jaw, eyes_gt = np.asarray(jaw, np.float64), np.asarray(eyes_gt, np.float64)
    n1 = len(pred)
    mo = mouth_opening(pred)
    r_mouth = float(np.corrcoef(mo, jaw)[0, 1])
    mo_gt = mouth_opening(gt)                    # diagnostics: is a low r dlib's fault or the measure's?
    r_gt_jaw = float(np.corrcoef(mo_gt, jaw)[0, 1])
    r_dlib_gt = float(np.corrcoef(mo, mo_gt)[0, 1])
    report["mouth_r"] = r_mouth
    report["mouth_diagnostics"] = dict(r_gt_landmark_opening_vs_jaw_open=r_gt_jaw,
                                       r_dlib_opening_vs_gt_landmark_opening=r_dlib_gt)
    bar("mouth opening vs jaw_open (Pearson r)", r_mouth, ">= 0.9", r_mouth >= 0.9,
        f"{n1} frames; r(gt-landmark opening, jaw_open) {r_gt_jaw:.3f}, r(dlib, gt-landmark opening) {r_dlib_gt:.3f}")

    def eye_measure(lms, eo):
        ear = eye_aspect_ratio(lms)                                               # [n, 2]
        half = rng.permutation(len(lms)) < len(lms) // 2                          # True = threshold-picking half
        x_ear, g_open, in_a = ear.reshape(-1), eo.reshape(-1), np.repeat(half, 2)
        keep = (g_open < 0.3) | (g_open > 0.7)
        closed = g_open < 0.3
        sel_a, sel_b = keep & in_a, keep & ~in_a
        thr = best_threshold(x_ear[sel_a], closed[sel_a])
        pc = x_ear < thr
        return dict(threshold=thr, accuracy=float(np.mean(pc[sel_b] == closed[sel_b])),
                    balanced_accuracy=balanced_accuracy(pc[sel_b], closed[sel_b]),
                    all_open_baseline_accuracy=float(1 - closed[sel_b].mean()),
                    n_eval=int(sel_b.sum()), n_eval_closed=int((sel_b & closed).sum()),
                    n_pick=int(sel_a.sum()), n_pick_closed=int((sel_a & closed).sum()),
                    ear_open_mean=float(x_ear[keep & ~closed].mean()),
                    ear_closed_mean=float(x_ear[keep & closed].mean()) if (keep & closed).any() else None)

    ey = report["eyes"] = eye_measure(pred, eyes_gt)
    bar("eye closed/open accuracy (EAR)", ey["accuracy"], ">= 0.95", ey["accuracy"] >= 0.95,
        f"balanced {ey['balanced_accuracy']:.3f}, thr {ey['threshold']:.3f}, eval {ey['n_eval']} eyes "
        f"({ey['n_eval_closed']} closed; all-open baseline {ey['all_open_baseline_accuracy']:.3f})")
    ex_lm, ex_eo = [], []
    for ci in range(len(clips)):
        for t, r in results[ci]["closed"].items():
            if r["n_faces"] == 1:
                ex_lm.append(r["landmarks"])
                ex_eo.append(labels[ci]["eye_open"][t])
    if ex_lm:
        ee = report["eyes_enriched"] = eye_measure(np.concatenate([pred, np.asarray(ex_lm, np.float64)]),
                                                   np.concatenate([eyes_gt, np.asarray(ex_eo, np.float64)]))
        bar("eye accuracy, blink-enriched set (info)", ee["accuracy"], ">= 0.95", ee["accuracy"] >= 0.95,
            f"balanced {ee['balanced_accuracy']:.3f}, thr {ee['threshold']:.3f}, eval {ee['n_eval']} eyes "
            f"({ee['n_eval_closed']} closed)")

    lme = landmark_error(pred, gt)
    lme_m = landmark_error(pred, gt, MOUTH)
    groups = {k: float(landmark_error(pred, gt, s).mean()) for k, s in GROUPS.items()}
    report["landmark_error"] = dict(all=float(lme.mean()), mouth=float(lme_m.mean()), groups=groups,
                                    all_median=float(np.median(lme)), all_p95=float(np.percentile(lme, 95)))
    bar("landmark error, 68 points (/ inter-ocular)", float(lme.mean()), "< 0.08", lme.mean() < 0.08,
        "groups: " + ", ".join(f"{k} {v:.3f}" for k, v in groups.items()))
    bar("landmark error, mouth 48-67", float(lme_m.mean()), "< 0.06", lme_m.mean() < 0.06)

    # 3. identity
    from sklearn.metrics import roc_auc_score
    emb, eid = [], []
    for ci in ident_frame:
        e = results[ci]["ident"]
        if e is not None:
            emb.append(e)
            eid.append(metas[ci]["identity"])
    emb, eid = np.asarray(emb), np.asarray(eid)
    iu = np.triu_indices(len(emb), 1)
    dist = embedding_distance(emb[:, None], emb[None])[iu]
    same = (eid[:, None] == eid[None])[iu]
    auc = float(roc_auc_score(same, -dist))
    report["identity"] = dict(auc=auc, n_embeddings=int(len(emb)), n_requested=len(ident_frame),
                              n_pairs_same=int(same.sum()), n_pairs_diff=int((~same).sum()),
                              mean_same=float(dist[same].mean()), mean_diff=float(dist[~same].mean()),
                              same_below_0_6=float(np.mean(dist[same] < 0.6)),
                              diff_below_0_6=float(np.mean(dist[~same] < 0.6)))
    bar("identity ROC AUC (-embedding distance)", auc, ">= 0.95", auc >= 0.95,
        f"same {dist[same].mean():.3f} / diff {dist[~same].mean():.3f}, {len(emb)} embeddings")

    # 4. sync
    lead = LIP_LEAD_S * fps
    c_gt = xcorr_pooled([lab["mouth"][:, 0] for lab in labels], [r["envelope"] for r in results])
    lag, lag_sub = peak_lag(c_gt)
    report["sync"] = dict(lag_frames=lag, lag_ms=1000.0 * lag / fps, lag_subframe=lag_sub,
                          lag_subframe_ms=1000.0 * lag_sub / fps, documented_lead_frames=lead,
                          documented_lead_ms=1000.0 * LIP_LEAD_S, xcorr=c_gt.tolist(), peak_corr=float(c_gt.max()),
                          sign="positive lag = mouth leads audio (mouth[t] matches audio[t + lag])",
                          clips_without_audio=int(sum(not r["has_audio"] for r in results)))
    bar("lip lead: argmax lag, GT jaw_open vs energy (frames)", lag, f"{lead:g} +- 1", abs(lag - lead) <= 1,
        f"{1000 * lag / fps:.0f} ms; sub-frame {lag_sub:+.2f} fr = {1000 * lag_sub / fps:+.0f} ms; "
        f"peak r {c_gt.max():.3f}")
    dl = [(results[i]["dlib_mouth"], results[i]["envelope"]) for i in sorted(sync_dlib)]
    if dl:
        c_d = xcorr_pooled([d[0] for d in dl], [d[1] for d in dl])
        lag_d, lag_d_sub = peak_lag(c_d)
        report["sync_dlib"] = dict(clips=len(dl), lag_frames=lag_d, lag_subframe=lag_d_sub,
                                   peak_corr=float(c_d.max()), xcorr=c_d.tolist())
        bar("lip lead from dlib mouth opening (info)", lag_d, f"{lead:g} +- 1", abs(lag_d - lead) <= 1,
            f"{len(dl)} clips, sub-frame {lag_d_sub:+.2f}, peak r {c_d.max():.3f}")

    # 5. styles
    y = np.array([m["style"] for m in metas])
    grp = np.array([m["identity"] for m in metas])
    chance = float(max(np.mean(y == s) for s in np.unique(y)))
    xp = np.stack([pose_features(lab["pose"], fps) for lab in labels])
    xa = np.stack([r["audio_features"] for r in results])
    st_pose = style_cv(xp, y, grp, a.seed)
    st_audio = style_cv(xa, y, grp, a.seed)
    report["styles"] = dict(chance=chance, counts={s: int(np.sum(y == s)) for s in STYLES}, pose=st_pose,
                            audio=st_audio)
    bar("style from head pose (5-fold by identity)", st_pose["accuracy"], ">= 0.90", st_pose["accuracy"] >= 0.9,
        f"chance {chance:.3f}")
    bar("style from audio (must be ~chance)", st_audio["accuracy"], f"<= {chance + 0.1:.3f}",
        st_audio["accuracy"] <= chance + 0.1, f"chance {chance:.3f}")

    report["bars"] = bars
    report["all_passed"] = all(b["passed"] for b in bars if "(info)" not in b["bar"])
    report["seconds"] = dict(analysis=t_analysis, total=time.time() - t_start)

    w = max(len(b["bar"]) for b in bars)
    print(f"\nworld bars on {root} ({man['resolution']} px, {len(clips)} clips, {len(ident_names)} identities, "
          f"{n_sample} sampled frames, seed {a.seed})")
    print(f"{'bar':<{w}}  {'value':>8}  {'target':>10}  result")
    for b in bars:
        v = b["value"]
        vs = f"{v:.3f}" if isinstance(v, float) else str(v)
        print(f"{b['bar']:<{w}}  {vs:>8}  {b['target']:>10}  {'PASS' if b['passed'] else 'FAIL'}  {b['note']}")
    print(f"all bars passed: {report['all_passed']}  ({report['seconds']['total']:.0f} s)")
    if a.json:
        pathlib.Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(a.json).write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
