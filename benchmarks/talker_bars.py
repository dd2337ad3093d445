"""Bars of the conditional sequential VAE, the talker (issue 6), measured on test identities of the default dataset.

    python benchmarks/talker_bars.py [--talker styletalker/weights/talker_default]
        [--ablation out/train/talker_default_nosync/talker_default_nosync] [--data data/cache/default]
        [--clips 24] [--threads 2] [--split test] [--json docs/talker_bars_default.json]

``--clips N`` test clips, spread evenly over the 96 test clips (12 identities), each one the anchor of the measures
below. ``--split val`` measures the 64 validation clips (8 identities) instead, to choose between candidate talkers
without looking at the test split.

self-reenactment  the clip's own audio and motion (posterior mean on Enc_I's codes of its frames), the inverted code of
                  its first frame as W+_ref. PSNR >= 25 dB and SSIM >= 0.88 over all frames (64 px, [-1, 1]).
                  LMD: mean distance of the mouth points 48-67 between generated and ground-truth frames over the
                  ground truth's inter-ocular distance (outer eye corners), both through the same landmark pipeline
                  (below); reported beside the encoder's inversion G(Enc_I(x)) of the same frames, and over the frames
                  where dlib's detector finds both faces (the protocol of docs/inversion_bars_default.json, also cited).
                  LSE-D and LSE-C (sync evaluator) of the generated clip within 10 % of the ground-truth clip's (means);
                  the inversion G(Enc_I(x)) of the ground-truth frames is measured too: the ceiling set by G_I.
cross-reenactment reference A = the anchor clip's first frame, motion video B and audio C = clips of two other
                  identities (seeded choice), T = the shortest of B, C, C'. Yaw, pitch and roll estimated from the
                  generated frames correlate with B's ground truth at r >= 0.8 (Pearson over all frames of all clips,
                  each clip's angles centred on their mean: the output keeps A's own head pose and adds B's motion,
                  so A's pose offset is not part of the motion; the uncentred r is reported beside it;
                  the mean within-clip r over clips whose true angle moves by more than 2 degrees (std) is reported,
                  and the same r for B's own inversion G(Enc_I(B)): the most a talker working in W+ can show; the
                  same holds for the mouth (C's inversion) and the blinks (B's inversion), reported beside theirs);
                  mouth opening (inner-lip gap / mouth width) against C's ground-truth jaw opening r >= 0.7; blinks
                  against B's F1 >= 0.8 (events: eye aspect ratio under a threshold; truth: mean eye openness < 0.5;
                  matched one to one within 2 frames); dlib embedding distance to A's reference frame <= 0.4 (mean over
                  every 2nd generated frame where dlib finds a face; the rate is reported, and the distance of the
                  inversion G(W+_ref) itself, the floor the talker starts from). On synthetic data each cross bar
                  also has a "world" column: the same measure of the world's own cross-reenactment, A's person drawn
                  by the world's renderer with B's head, eyes and brows and C's mouth
                  (``styletalker.data.frames.render_cross``): what a perfect talker would score, the bar's ceiling
                  in this world and this landmark pipeline.
disentanglement   m fixed (B's), audio C swapped for C' (a fourth identity): mean |pose change| < 1 degree (each of
                  yaw, pitch, roll, and their mean); the mouth follows the new audio: r(mouth, C' jaw) reported beside
                  r(mouth, C jaw) (the first should be the larger).
ablation          the talker trained without the lip-sync loss (``--ablation``): self-reenactment LSE-C, LSE-D, LMD
                  and PSNR for both.
speed             ``talker.generate.generate`` in motion-controllable mode from files, timed end to end: reference
                  inversion, audio windows, the motion video decoded, face-cropped by dlib tracking (a 192 px video
                  with the face inside a larger frame) and encoded by Enc_I, W+ manipulation, G_I rendering, mp4 with
                  audio written. Frames/s >= 25 (real time), the fastest of --reps runs in one process (all are
                  kept); also with a 64 px motion video (already a crop).

Landmark pipeline (``styletalker.posemetrics.face_landmarks``): dlib's 68-point shape predictor on dlib's detected
box, or, where the detector finds no face (most 64 px generated frames), on a box placed from the landmark
regressor's estimate. Every measure is also taken on the ground-truth frames through the same pipeline and reported
as the ceiling ("gt" column): at 64 px the pipeline itself is noisy, most of all for the eyes.
The pose estimator (``PoseEstimator``, a least-squares map from landmark features to degrees) and the blink threshold
on the eye aspect ratio (best event F1 against the true blinks) are fitted on 20 clips of the training split, never
on test clips.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import time

import numpy as np
import torch

from styletalker.data.dataset import ClipWindows
from styletalker.data.frames import EYE_CLOSED, render_cross, renderable
from styletalker.face import MOUTH, FaceAnalyzer, embedding_distance, landmark_error, mouth_opening
from styletalker.gan.generator import resolve_precision
from styletalker.gan.weights import SHIPPED_RENDERER, load_generator
from styletalker.imagemetrics import psnr, ssim
from styletalker.inversion.invert import SHIPPED_RENDER_ENCODER, check_pair, encode, load_encoder, load_landmarks
from styletalker.posemetrics import (PoseEstimator, best_event_threshold, blink_events, eye_openness, f1_from_counts,
                                     face_landmarks, match_events, pearson)
from styletalker.sync.evaluator import SHIPPED_EVALUATOR, lse, load_evaluator
from styletalker.talker.generate import SHIPPED_TALKER, generate, load_talker, render
from styletalker.videoio import read_video, read_video_audio, write_video

FPS, SR, AXES = 25, 16000, ("yaw", "pitch", "roll")
# ground truth: a frame is in a blink when the mean eye openness is below EYE_CLOSED (0.5; the training stages'
# --closed-eyes over-samples the same frames)
TOLERANCE = 2                # frames between matched blink centres


class Clips:
    """Test clips (or another ``split``'s) of the dataset cache with their audio, codes and ground-truth landmarks
    (computed once each)."""

    def __init__(self, root, E, lm_net, fa, split: str = "test"):
        self.root, self.E, self.lm_net, self.fa = pathlib.Path(root), E, lm_net, fa
        self.ds = ClipWindows(root, split)
        self.n = len(self.ds.index["lengths"])
        self.identity = self.ds.index["identities"]
        self.resolution = int(self.ds.index["resolution"])
        self.synthetic = renderable([self.path(j) for j in range(min(self.n, 3))])
        self._cache: dict = {}

    def path(self, i: int) -> pathlib.Path:
        """Clip i's files without their suffix."""
        return self.root / self.ds.index["clips"][i]

    def __getitem__(self, i: int) -> dict:
        if i not in self._cache:
            ds, a = self.ds, int(self.ds.offsets[i])
            b = a + int(ds.index["lengths"][i])
            frames = np.array(ds.frames[a:b])
            self._cache[i] = dict(
                frames=frames, mel=torch.from_numpy(np.asarray(ds.mel[a:b], np.float32)),
                labels={k: np.array(v[a:b]) for k, v in ds.labels.items()},
                audio=read_video_audio((self.root / ds.index["clips"][i]).with_suffix(".mp4"), SR),
                codes=encode(self.E, frames), name=ds.index["clips"][i])
        return self._cache[i]

    def landmarks(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        c = self[i]
        if "lm" not in c:
            c["lm"] = face_landmarks(c["frames"], self.lm_net, self.fa)
        return c["lm"]

    def inversion(self, i: int, G) -> tuple[np.ndarray, tuple]:
        """The clip's frames inverted by Enc_I and drawn by G_I, G(Enc_I(x)), with their landmarks (as
        :meth:`landmarks`); what any talker working in W+ can show of this clip at best."""
        c = self[i]
        if "inv" not in c:
            frames = render(G, c["codes"])
            c["inv"] = frames, face_landmarks(frames, self.lm_net, self.fa)
        return c["inv"]


def calibrate(root, lm_net, fa, n_clips: int = 20) -> tuple[PoseEstimator, float, dict]:
    """The pose estimator (least squares) and the blink threshold on eye aspect ratio (best event F1 against the true
    blinks), fitted on every frame of ``n_clips`` training-split clips spread over the split."""
    tr = ClipWindows(root, "train")
    lengths = tr.index["lengths"]
    picks = np.unique(np.linspace(0, len(lengths) - 1, n_clips).round().astype(int))
    lms, regs, poses, ears, events = [], [], [], [], []
    for ci in picks:
        a, b = int(tr.offsets[ci]), int(tr.offsets[ci + 1])
        lm, reg, found = face_landmarks(np.asarray(tr.frames[a:b]), lm_net, fa)
        lms.append(lm), regs.append(reg), poses.append(np.asarray(tr.labels["pose"][a:b]))
        ears.append(eye_openness(lm))
        events.append(blink_events(np.asarray(tr.labels["eye_open"][a:b]).mean(1), EYE_CLOSED))
    lm, reg, pose = np.concatenate(lms), np.concatenate(regs), np.concatenate(poses)
    est = PoseEstimator.fit((lm, reg), pose)
    thr = best_event_threshold(ears, events, TOLERANCE)
    fit = dict(clips=len(picks), frames=len(lm), true_blinks=int(sum(len(e) for e in events)), ear_threshold=thr,
               train_blink_f1=f1_from_counts(*np.sum([match_events(blink_events(e, thr), t, TOLERANCE)
                                                       for e, t in zip(ears, events)], 0).tolist())["f1"],
               **{f"train_r_{k}": pearson(est((lm, reg))[:, j], pose[:, j]) for j, k in enumerate(AXES)})
    return est, thr, fit


def blink_counts(lm: np.ndarray, eye_open: np.ndarray, thr: float) -> tuple[int, int, int]:
    return match_events(blink_events(eye_openness(lm), thr), blink_events(eye_open.mean(1), EYE_CLOSED), TOLERANCE)


def self_reenact(talker, G, c: dict, gt_lm: tuple, lm_net, fa, Ev) -> dict:
    ws = talker.reenact(c["codes"][:1], c["mel"][None], c["codes"][None])[0]
    y = render(G, ws)
    t = lambda f: torch.from_numpy(f).permute(0, 3, 1, 2).float() / 127.5 - 1               # noqa: E731
    lm, _, found = face_landmarks(y, lm_net, fa)
    both = found & gt_lm[2]
    r = lse(y, c["audio"], Ev)
    return dict(psnr=psnr(t(y), t(c["frames"])).mean().item(), ssim=ssim(t(y), t(c["frames"])).mean().item(),
                lmd=float(landmark_error(lm, gt_lm[0], MOUTH).mean()), detected=float(found.mean()),
                lmd_dlib_pairs=[float(v) for v in landmark_error(lm[both], gt_lm[0][both], MOUTH)],
                lse_d=r["lse_d"], lse_c=r["lse_c"], offset=r["offset"])


def speed(talker, G, E, clips: Clips, i: int, reps: int = 1, precision: str = "fp32") -> dict:
    """End-to-end motion-controllable generation from files, frames/s (see the module docstring)."""
    c = clips[i]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        T = len(c["frames"])
        big = np.full((T, 192, 192, 3), 96, np.uint8)                     # the face inside a larger frame
        big[:, 40:168, 32:160] = np.asarray(torch.nn.functional.interpolate(
            torch.from_numpy(c["frames"]).permute(0, 3, 1, 2).float(), size=128, mode="bilinear",
            align_corners=False).clamp(0, 255).round().byte().permute(0, 2, 3, 1))
        src = clips.root / c["name"]
        videos = {"motion_192px_face_crop": write_video(tmp / "motion192.mp4", big, FPS),
                  "motion_64px_crop": src.with_suffix(".mp4")}
        ref = c["frames"][0]
        for name, video in videos.items():
            times = []
            for k in range(reps):
                t0 = time.time()
                audio = read_video_audio(src.with_suffix(".mp4"), SR)
                frames, _ = generate(ref, audio, video, talker, G, E, precision=precision)
                write_video(tmp / f"out{k}.mp4", frames, FPS, audio=audio, sample_rate=SR)
                times.append(time.time() - t0)
            n = len(read_video(tmp / "out0.mp4")[0])
            out[name] = dict(frames=n, seconds=min(times), fps=n / min(times), runs_seconds=times)
    return out


def print_bars(bars: dict, ref_keys: tuple) -> None:
    """The bars as a table: name, value, the first of ``ref_keys`` present (ground truth or reference), target,
    PASS / FAIL / report."""
    print(f"\n{'bar':<40} {'value':>9} {'gt/ref':>9}  {'target':<24} result")
    for name, b in bars.items():
        ref = next((b[k] for k in ref_keys if isinstance(b.get(k), (int, float))), None)
        fmt = lambda v: f"{v:9.3f}" if isinstance(v, (int, float)) else f"{'-':>9}"  # noqa: E731
        res_s = "report" if b["pass"] is None else ("PASS" if b["pass"] else "FAIL")
        print(f"{name:<40} {fmt(b['value'])} {fmt(ref)}  {b['target']:<24} {res_s}")


def add_model_args(ap: argparse.ArgumentParser) -> None:
    """The frozen models and the dataset a talker benchmark reads (default: the shipped ones)."""
    ap.add_argument("--generator", default=str(SHIPPED_RENDERER), help="the G_I that renders (default: generation's, "
                    "generator_default_detail; the full one: styletalker/weights/generator_default)")
    ap.add_argument("--encoder", default=str(SHIPPED_RENDER_ENCODER), help="its encoder (default: generation's, "
                    "encoder_default_detail; the full G_I's: styletalker/weights/encoder_default)")
    ap.add_argument("--evaluator", default=str(SHIPPED_EVALUATOR))
    ap.add_argument("--data", default="data/cache/default")


def load_frozen(a) -> tuple:
    """(G_I, Enc_I, the sync evaluator) named by :func:`add_model_args`'s flags, checked to fit each other."""
    G, E, Ev = load_generator(a.generator), load_encoder(a.encoder), load_evaluator(a.evaluator)
    check_pair(E, G)
    return G, E, Ev


def save(res: dict, path) -> dict:
    """Write a benchmark's results as JSON (when ``path`` is given); returns them."""
    if path:
        pathlib.Path(path).write_text(json.dumps(res, indent=1, default=float) + "\n")
    return res


def mean(xs) -> float:
    xs = [x for x in xs if x is not None and np.isfinite(x)]
    return float(np.mean(xs)) if xs else float("nan")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--talker", default=str(SHIPPED_TALKER))
    ap.add_argument("--ablation", default=None, help="the talker trained with --no-sync (omitted: no ablation)")
    ap.add_argument("--with-sync", default=None, help="the same training with the lip-sync loss, when the shipped "
                    "talker is not it (the ablation then compares these two)")
    add_model_args(ap)
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="test", choices=["test", "val"], help="the clips measured: test (the bars), or "
                    "val (to choose between candidate talkers without looking at the test split)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"], help="rendering precision of the "
                    "speed bar (bf16: a separate speed_fps_bf16 entry)")
    ap.add_argument("--reps", type=int, default=3, help="speed runs per motion video; the fastest counts (the first "
                    "one also pays one-off costs: dlib's model, the first bf16 kernels)")
    ap.add_argument("--speed-only", action="store_true", help="only the speed bar, on an idle machine; with --json, "
                    "it replaces the speed bar of that existing file")
    a = ap.parse_args(argv)
    a.precision = resolve_precision(a.precision)                 # auto: what this CPU gets
    torch.set_num_threads(a.threads)
    t0 = time.time()
    strip = lambda p: str(p).removesuffix(".safetensors")                                  # noqa: E731
    G, E, Ev = load_frozen(a)
    talker = load_talker(strip(a.talker)).eval()
    ablation = load_talker(strip(a.ablation)).eval() if a.ablation else None
    with_sync = load_talker(strip(a.with_sync)).eval() if a.with_sync else None
    lm_net, fa = load_landmarks(), FaceAnalyzer()
    if a.speed_only:
        sp = speed(talker, G, E, Clips(a.data, E, lm_net, fa), 0, reps=a.reps, precision=a.precision)
        b = dict(value=sp["motion_192px_face_crop"]["fps"], target=">= 25", gt=None,
                 crop_64px_fps=sp["motion_64px_crop"]["fps"], threads=a.threads, precision=a.precision, **sp)
        b["pass"] = b["value"] >= 25
        print(f"motion-controllable generation: {b['value']:.1f} frames/s (192 px motion video, dlib tracking), "
              f"{b['crop_64px_fps']:.1f} frames/s (64 px crops), {a.threads} threads, {a.precision}")
        if a.json and pathlib.Path(a.json).exists():
            res = json.loads(pathlib.Path(a.json).read_text())
            res["bars"]["speed_fps" if a.precision == "fp32" else f"speed_fps_{a.precision}"] = b
            save(res, a.json)
        return dict(bars={"speed_fps": b})
    est, thr, fit = calibrate(a.data, lm_net, fa)
    print(f"calibration on {fit['frames']} frames of {fit['clips']} training clips: pose r {fit['train_r_yaw']:.3f} / "
          f"{fit['train_r_pitch']:.3f} / {fit['train_r_roll']:.3f}, EAR blink threshold {thr:.3f} "
          f"(blink F1 {fit['train_blink_f1']:.2f} on {fit['true_blinks']} true blinks)", flush=True)
    clips = Clips(a.data, E, lm_net, fa, split=a.split)
    rng = np.random.default_rng(a.seed)
    anchors = np.unique(np.linspace(0, clips.n - 1, min(a.clips, clips.n)).round().astype(int))
    rows, pooled = [], {k: [] for k in ("pose_gen", "pose_gt", "pose_real", "pose_inversion", "mouth_gen", "jaw_c",
                                         "mouth_real", "mouth_inversion", "jaw_c2", "mouth_swap", "pose_swap",
                                         "pose_world", "mouth_world")}
    blinks = dict(gen=[0, 0, 0], real=[0, 0, 0], inversion=[0, 0, 0], world=[0, 0, 0])
    for n, i in enumerate(anchors):
        c = clips[i]
        row = dict(clip=c["name"])
        # ---- self-reenactment, ground truth, inversion, ablation
        gt_lm = clips.landmarks(i)
        row["self"] = self_reenact(talker, G, c, gt_lm, lm_net, fa, Ev)
        r = lse(c["frames"], c["audio"], Ev)
        row["gt"] = dict(lse_d=r["lse_d"], lse_c=r["lse_c"], offset=r["offset"], detected=float(gt_lm[2].mean()))
        inv, (lm_inv, _, found_inv) = clips.inversion(i, G)
        t = lambda f: torch.from_numpy(f).permute(0, 3, 1, 2).float() / 127.5 - 1           # noqa: E731
        r_inv = lse(inv, c["audio"], Ev)
        row["inversion"] = dict(lmd=float(landmark_error(lm_inv, gt_lm[0], MOUTH).mean()),
                                psnr=psnr(t(inv), t(c["frames"])).mean().item(), detected=float(found_inv.mean()),
                                lse_d=r_inv["lse_d"], lse_c=r_inv["lse_c"])
        if ablation is not None:
            row["ablation"] = self_reenact(ablation, G, c, gt_lm, lm_net, fa, Ev)
        if with_sync is not None:
            row["with_sync"] = self_reenact(with_sync, G, c, gt_lm, lm_net, fa, Ev)
        # ---- cross-reenactment: A = this clip's identity, motion B, audio C, swapped audio C'
        others = [j for j in rng.permutation(clips.n) if clips.identity[j] != clips.identity[i]]
        jb = others[0]
        jc = next(j for j in others if clips.identity[j] != clips.identity[jb])
        jc2 = next(j for j in others if clips.identity[j] not in (clips.identity[jb], clips.identity[jc]))
        B, C, C2 = clips[jb], clips[jc], clips[jc2]
        T = min(len(B["frames"]), len(C["frames"]), len(C2["frames"]))
        ws_ref = c["codes"][:1]
        ws = talker.reenact(ws_ref, C["mel"][None, :T], B["codes"][None, :T])[0]
        ws_swap = talker.reenact(ws_ref, C2["mel"][None, :T], B["codes"][None, :T])[0]
        y, y_swap = render(G, ws), render(G, ws_swap)
        lm, reg, found = face_landmarks(y, lm_net, fa)
        lm_swap, reg_swap, _ = face_landmarks(y_swap, lm_net, fa)
        lm_b, reg_b, _ = (x[:T] for x in clips.landmarks(jb))
        lm_c = clips.landmarks(jc)[0][:T]
        pose, pose_swap, pose_b = est((lm, reg)), est((lm_swap, reg_swap)), B["labels"]["pose"][:T, :3]
        pooled["pose_gen"].append(pose), pooled["pose_gt"].append(pose_b)
        pooled["pose_real"].append(est((lm_b, reg_b)))
        # the ceiling W+ sets: B's (pose, blinks) and C's (mouth) own frames inverted by Enc_I and drawn by G_I,
        # through the same pipeline
        lm_ib, reg_ib, _ = (x[:T] for x in clips.inversion(jb, G)[1])
        pooled["pose_inversion"].append(est((lm_ib, reg_ib)))
        pooled["mouth_inversion"].append(mouth_opening(clips.inversion(jc, G)[1][0][:T]))
        pooled["pose_swap"].append(pose_swap)
        pooled["mouth_gen"].append(mouth_opening(lm)), pooled["jaw_c"].append(C["labels"]["mouth"][:T, 0])
        pooled["mouth_real"].append(mouth_opening(lm_c)), pooled["jaw_c2"].append(C2["labels"]["mouth"][:T, 0])
        pooled["mouth_swap"].append(mouth_opening(lm_swap))
        counts = [("gen", blink_counts(lm, B["labels"]["eye_open"][:T], thr)),
                  ("real", blink_counts(lm_b, B["labels"]["eye_open"][:T], thr)),
                  ("inversion", blink_counts(lm_ib, B["labels"]["eye_open"][:T], thr))]
        # the bars' own ceiling in this world: the exact cross-reenactment, A's person with B's head and eyes and
        # C's mouth drawn by the world's renderer (synthetic data only), through the same pipeline
        y_world = None
        if clips.synthetic:
            y_world, _ = render_cross(clips.path(i), clips.path(jb), clips.path(jc), T, clips.resolution)
            lm_w, reg_w, _ = face_landmarks(y_world, lm_net, fa)
            pooled["pose_world"].append(est((lm_w, reg_w))), pooled["mouth_world"].append(mouth_opening(lm_w))
            counts.append(("world", blink_counts(lm_w, B["labels"]["eye_open"][:T], thr)))
        for k, n_k in counts:
            blinks[k] = [u + v for u, v in zip(blinks[k], n_k)]
        ref_result = fa.analyze(c["frames"][0])
        ids = [fa.analyze(f) for f in y[::2]]
        d_ref = d_world = None
        if ref_result is not None:
            e_ref = ref_result.embedding
            d_gen = [float(embedding_distance(r.embedding, e_ref)) for r in ids if r is not None]
            inv_ref = fa.analyze(render(G, ws_ref)[0])
            d_ref = float(embedding_distance(inv_ref.embedding, e_ref)) if inv_ref is not None else None
            if y_world is not None:
                d_w = [float(embedding_distance(r.embedding, e_ref)) for r in map(fa.analyze, y_world[::2])
                       if r is not None]
                d_world = mean(d_w) if d_w else None
        else:
            d_gen = []
        row["cross"] = dict(motion=B["name"], audio=C["name"], swapped_audio=C2["name"], frames=T,
                            detected=float(found.mean()), identity_found=len(d_gen) / len(ids),
                            identity_distance=mean(d_gen) if d_gen else None, inversion_ref_distance=d_ref,
                            world_identity_distance=d_world,
                            # per-clip means, to see what moves whole clips (the mouth bar pools over clips)
                            mouth_mean=float(np.nanmean(pooled["mouth_gen"][-1])),
                            jaw_mean_c=float(pooled["jaw_c"][-1].mean()),
                            mouth_mean_world=float(np.nanmean(pooled["mouth_world"][-1])) if y_world is not None
                            else None, mouth_ref=float(mouth_opening(gt_lm[0][:1])[0]),
                            within_r={k: pearson(pose[:, j], pose_b[:, j]) for j, k in enumerate(AXES)
                                      if pose_b[:, j].std() > 2},
                            swap_pose_change=np.abs(pose_swap - pose).mean(0).tolist())
        rows.append(row)
        s = row["self"]
        print(f"{n + 1}/{len(anchors)} {c['name']}: self PSNR {s['psnr']:.2f} SSIM {s['ssim']:.3f} LMD {s['lmd']:.3f} "
              f"(inversion {row['inversion']['lmd']:.3f}) LSE-D/C {s['lse_d']:.2f}/{s['lse_c']:.2f} (gt "
              f"{row['gt']['lse_d']:.2f}/{row['gt']['lse_c']:.2f}); cross {T} frames, id distance "
              f"{row['cross']['identity_distance']}", flush=True)

    cat = {k: np.concatenate(v) for k, v in pooled.items() if v}         # no world columns on real clips
    m = lambda key, sub: mean([r[key][sub] for r in rows])                                     # noqa: E731
    res = dict(talker=a.talker, ablation=a.ablation, with_sync=a.with_sync, data=a.data, split=a.split,
               n_clips=len(rows), threads=a.threads, lip_gain=talker.default_lip_gain,
               ablation_lip_gain=ablation.default_lip_gain if ablation else None,
               calibration=dict(fit, pose_estimator=est.to_dict()))
    bars = {}

    def bar(name, value, target, ok, gt=None, **extra):
        bars[name] = dict(value=value, target=target, **{"pass": bool(ok) if ok is not None else None}, gt=gt,
                          **extra)

    bar("self_psnr_db", m("self", "psnr"), ">= 25", m("self", "psnr") >= 25, inversion=m("inversion", "psnr"))
    bar("self_ssim", m("self", "ssim"), ">= 0.88", m("self", "ssim") >= 0.88)
    inv_doc = pathlib.Path("docs/inversion_bars_default.json")
    doc_lmd = json.loads(inv_doc.read_text()).get("mouth_landmark_error_iod") if inv_doc.exists() else None
    pairs = [v for r in rows for v in r["self"]["lmd_dlib_pairs"]]
    bar("self_lmd_mouth_iod", m("self", "lmd"), "report (beside inversion)", None, inversion=m("inversion", "lmd"),
        dlib_pairs=mean(pairs), dlib_pair_count=len(pairs), inversion_doc_dlib_pairs=doc_lmd,
        detected_gen=m("self", "detected"), detected_gt=m("gt", "detected"),
        detected_inversion=m("inversion", "detected"))
    for k in ("lse_d", "lse_c"):
        rel = abs(m("self", k) - m("gt", k)) / abs(m("gt", k))
        bar(f"self_{k}_within_10pct", m("self", k), "|rel| <= 0.10", rel <= 0.10, gt=m("gt", k), rel=rel,
            inversion=m("inversion", k))
    centred = {k: np.concatenate([x - x.mean(0) for x in pooled[k]])
               for k in ("pose_gen", "pose_gt", "pose_real", "pose_inversion", "pose_world") if pooled[k]}
    world = "pose_world" in centred
    for j, k in enumerate(AXES):
        v = pearson(centred["pose_gen"][:, j], centred["pose_gt"][:, j])
        bar(f"cross_{k}_r", v, ">= 0.8", v >= 0.8, gt=pearson(centred["pose_real"][:, j], centred["pose_gt"][:, j]),
            inversion=pearson(centred["pose_inversion"][:, j], centred["pose_gt"][:, j]),
            world=pearson(centred["pose_world"][:, j], centred["pose_gt"][:, j]) if world else None,
            uncentred_r=pearson(cat["pose_gen"][:, j], cat["pose_gt"][:, j]),
            within_clip_mean_r=mean([r["cross"]["within_r"].get(k) for r in rows]),
            mae_deg=float(np.abs(cat["pose_gen"][:, j] - cat["pose_gt"][:, j]).mean()))
    v = pearson(cat["mouth_gen"], cat["jaw_c"])
    # diagnostic: the same with each clip's mean taken out (how far A's reference mouth shifts whole clips)
    cm = {k: np.concatenate([x - np.nanmean(x) for x in pooled[k]]) for k in ("mouth_gen", "jaw_c")}
    bar("cross_mouth_vs_audio_jaw_r", v, ">= 0.7", v >= 0.7, gt=pearson(cat["mouth_real"], cat["jaw_c"]),
        inversion=pearson(cat["mouth_inversion"], cat["jaw_c"]), centred_r=pearson(cm["mouth_gen"], cm["jaw_c"]),
        world=pearson(cat["mouth_world"], cat["jaw_c"]) if world else None)
    f_gen, f_real = f1_from_counts(*blinks["gen"]), f1_from_counts(*blinks["real"])
    f_inv, f_world = f1_from_counts(*blinks["inversion"]), f1_from_counts(*blinks["world"])
    bar("cross_blink_f1", f_gen["f1"], ">= 0.8", f_gen["f1"] >= 0.8, gt=f_real["f1"], counts=f_gen, gt_counts=f_real,
        inversion=f_inv["f1"], inversion_counts=f_inv, world=f_world["f1"] if world else None, world_counts=f_world)
    dist = m("cross", "identity_distance")
    bar("cross_identity_distance", dist, "<= 0.4", dist <= 0.4, found_rate=m("cross", "identity_found"),
        inversion_ref_distance=m("cross", "inversion_ref_distance"),
        world=m("cross", "world_identity_distance") if world else None)
    change = np.abs(cat["pose_swap"] - cat["pose_gen"]).mean(0)
    bar("disentangle_pose_change_deg", float(change.mean()), "< 1", change.mean() < 1,
        **{k: float(change[j]) for j, k in enumerate(AXES)})
    r_new, r_old = pearson(cat["mouth_swap"], cat["jaw_c2"]), pearson(cat["mouth_swap"], cat["jaw_c"])
    bar("disentangle_mouth_follows_new_audio_r", r_new, "> r with the old audio", r_new > r_old, old_audio_r=r_old)
    if ablation is not None:
        ref = "with_sync" if with_sync is not None else "self"
        for k in ("lse_c", "lse_d", "lmd", "psnr"):
            bar(f"ablation_{k}", m("ablation", k), "report (with sync: gt)", None, gt=m(ref, k),
                shipped=m("self", k), note="value: trained without the lip-sync loss; gt column: the same training "
                "with it" + (f" ({a.with_sync})" if with_sync is not None else ""))
    sp = speed(talker, G, E, clips, int(anchors[0]), reps=a.reps, precision=a.precision)
    fps = sp["motion_192px_face_crop"]["fps"]
    bar("speed_fps" if a.precision == "fp32" else f"speed_fps_{a.precision}", fps, ">= 25", fps >= 25,
        crop_64px_fps=sp["motion_64px_crop"]["fps"], **sp)
    res["bars"], res["seconds"], res["clips"] = bars, round(time.time() - t0, 1), rows

    print_bars(bars, ("gt", "inversion", "inversion_ref_distance"))
    print("the ceiling W+ sets, the inversions G_I(Enc_I(.)) of B and C: pose r " + ", ".join(
        f"{k} {bars[f'cross_{k}_r']['inversion']:.3f}" for k in AXES) + f"; mouth r "
        f"{bars['cross_mouth_vs_audio_jaw_r']['inversion']:.3f}; blink F1 {bars['cross_blink_f1']['inversion']:.3f}")
    if bars["cross_yaw_r"]["world"] is not None:
        print("the bars' ceiling in this world, its own cross-reenactment (A drawn with B's motion and C's mouth): "
              "pose r " + ", ".join(f"{k} {bars[f'cross_{k}_r']['world']:.3f}" for k in AXES) +
              f"; mouth r {bars['cross_mouth_vs_audio_jaw_r']['world']:.3f}; blink F1 "
              f"{bars['cross_blink_f1']['world']:.3f}; identity distance "
              f"{bars['cross_identity_distance']['world']:.3f}")
    print(f"{len(rows)} clips in {res['seconds']:.0f} s with {a.threads} threads")
    return save(res, a.json)


if __name__ == "__main__":
    r = main()
    sys.exit(0 if all(b["pass"] is not False for b in r["bars"].values()) else 1)
