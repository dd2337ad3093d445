"""Bars of D_sync and the sync evaluator (issue 5), measured on the test identities of the default dataset.

    python benchmarks/sync_bars.py [--data data/cache/default] [--dsync styletalker/weights/dsync_default]
        [--evaluator styletalker/weights/sync_evaluator_default] [--json docs/sync_bars_default.json]

Frames are the decoded mp4 frames of each test clip (the dataset cache), audio the clip's decoded AAC track.

1. D_sync alignment   every non-overlapping 1-second window (25 frames, 21 five-frame windows) of every test clip:
                      mean cosine similarity of video window j with audio window j + k for k = -15..+15 (over the j
                      whose partner lies inside the clip); the best k within +-1 of 0 for >= 95 % of windows.
2. evaluator offset   ``lse`` on every test clip: |offset| <= 1 for >= 95 % of clips.
3. LSE-C ratio        mean LSE-C with the true audio >= 3x the mean LSE-C with the audio of another test clip
                      (another identity, at least as long; trimmed to the video).
4. shifted audio      the audio advanced by 5 frames (0.2 s cut from the start: the audio leads) must give offset +5
                      +-1, and delayed by 5 frames (0.2 s of silence first) offset -5 +-1; each for >= 95 % of clips.
5. wrong mouth        each test clip re-rendered from its labels (identity, pose, eyes, brows) twice: with its own
                      mouth track and with the mouth track of another clip (another identity); against the true
                      audio the wrong mouth must score worse for >= 95 % of clips on both networks: D_sync's mean
                      cosine at offset 0 lower, the evaluator's LSE-D higher.
6. mp4 re-encoding    ``lse`` of each clip against ``lse`` of the same clip written to mp4 (H.264 crf 18, AAC 64k,
                      ``videoio.write_video``) and read back: LSE-D and LSE-C within 5 % for >= 95 % of clips, for
                      the decoded dataset clip (a second encoding) and for the lossless re-render of bar 5.
7. speed              ``lse`` on a 10-second clip (250 frames, 64 px, frames and audio in memory; mel included)
                      <= 2 s on this CPU, with the torch threads as set (and with 1 thread, reported).
"""
from __future__ import annotations

import argparse
import json
import pathlib
import tempfile
import time

import numpy as np
import torch

from styletalker.data import format as fmt
from styletalker.data.dataset import build_cache
from styletalker.sync.evaluator import SHIPPED_EVALUATOR, lse, load_evaluator
from styletalker.sync.model import SHIPPED_DSYNC, load_dsync, sync_score, sync_windows
from styletalker.videoio import read_video, read_video_audio, write_video
from styletalker.world import clip as wclip
from styletalker.world import head

FPS, SR = 25, 16000


def test_clips(root: pathlib.Path):
    """Yield dict(name, identity, frames uint8 [T, H, W, 3], mel [T, 80, 20], audio [N], labels, meta) per test clip."""
    d = build_cache(root, "test")
    idx = json.loads((d / "index.json").read_text())
    frames = np.load(d / "frames.npy", mmap_mode="r")
    mel = np.load(d / "mel.npy", mmap_mode="r")
    a = 0
    for rel, n in zip(idx["clips"], idx["lengths"]):
        path = root / rel
        audio = read_video_audio(path.with_suffix(".mp4"), SR)
        meta = json.loads(path.with_suffix(".json").read_text())
        with np.load(path.with_suffix(".npz")) as z:
            labels = {k: z[k] for k in z.files}
        yield dict(name=rel, identity=meta["identity"], frames=np.array(frames[a:a + n]),
                   mel=torch.from_numpy(np.asarray(mel[a:a + n], np.float32)), audio=audio, labels=labels, meta=meta)
        a += n


def best_offsets_1s(v: torch.Tensor, a: torch.Tensor, vshift: int = 15, second: int = 25) -> list[int]:
    """D_sync's best audio shift k for each non-overlapping 1-second window of a clip; v, a [n, D] unit vectors."""
    n = len(v)
    sim = v @ a.T                                                    # [n, n], sim[j, i] = cos(v_j, a_i)
    per = second - 4                                                 # 5-frame windows in 25 frames
    out = []
    for s in range(0, n - per + 1, second):
        scores = []
        for k in range(-vshift, vshift + 1):
            js = [j for j in range(s, s + per) if 0 <= j + k < n]
            scores.append(torch.stack([sim[j, j + k] for j in js]).mean() if js else torch.tensor(-2.0))
        out.append(int(torch.stack(scores).argmax()) - vshift)
    return out


def render(meta: dict, labels: dict, mouth: np.ndarray, resolution: int) -> np.ndarray:
    ident = torch.tensor([meta["identity_factors"][k] for k in head.IDENTITY_FACTORS], dtype=torch.float32)
    params = wclip.frame_params(labels["pose"], labels["eye_open"], labels["brow"], mouth)
    return wclip.render_frames(ident, params, resolution)[0]


def shift_audio(audio: np.ndarray, frames: int) -> np.ndarray:
    """frames > 0: the audio leads (its first frames/25 s cut); < 0: it lags (silence first). Same length."""
    k = int(round(abs(frames) * SR / FPS))
    if frames > 0:
        return np.concatenate([audio[k:], np.zeros(k, np.float32)])
    return np.concatenate([np.zeros(k, np.float32), audio[:len(audio) - k]])


def reencoded(frames: np.ndarray, audio: np.ndarray, folder: str) -> tuple[np.ndarray, np.ndarray]:
    """The clip written to mp4 (H.264 crf 18 + AAC) and decoded again."""
    path = write_video(pathlib.Path(folder) / "clip.mp4", frames, fps=FPS, audio=audio, sample_rate=SR)
    return read_video(path)[0], read_video_audio(path, SR)


def rel(a: float, b: float) -> float:
    return abs(b - a) / max(abs(a), 1e-9)


def speed(net, clip: dict, threads: int | None = None, reps: int = 3) -> float:
    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    T = 250
    reps_needed = -(-T // len(clip["frames"]))
    frames = np.concatenate([clip["frames"]] * reps_needed)[:T]
    audio = np.concatenate([clip["audio"][:len(clip["frames"]) * SR // FPS]] * reps_needed)[:T * SR // FPS]
    lse(frames, audio, net)
    t = time.time()
    for _ in range(reps):
        lse(frames, audio, net)
    torch.set_num_threads(old)
    return (time.time() - t) / reps


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/cache/default")
    ap.add_argument("--dsync", default=str(SHIPPED_DSYNC))
    ap.add_argument("--evaluator", default=str(SHIPPED_EVALUATOR))
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    t0 = time.time()
    root = pathlib.Path(a.data)
    man = fmt.read_manifest(root)
    D, E = load_dsync(a.dsync), load_evaluator(a.evaluator)
    clips = list(test_clips(root))
    rng = np.random.default_rng(0)
    rows = []
    for i, c in enumerate(clips):
        T = len(c["frames"])
        fr = torch.from_numpy(c["frames"]).permute(0, 3, 1, 2).float()[None] / 255           # [1, T, 3, H, W]
        with torch.no_grad():
            v, au = sync_windows(D, fr, c["mel"][None])
        row = dict(clip=c["name"], frames=T, dsync_1s=best_offsets_1s(v[0], au[0]))
        r = lse(c["frames"], c["audio"], E)
        row.update(offset=r["offset"], lse_d=r["lse_d"], lse_c=r["lse_c"])
        # another identity's clip, at least as long (the longest one if none is)
        others = [j for j in rng.permutation(len(clips)) if clips[j]["identity"] != c["identity"]]
        longer = [j for j in others if len(clips[j]["frames"]) >= T]
        j = longer[0] if longer else max(others, key=lambda j: len(clips[j]["frames"]))
        other_audio = clips[j]["audio"]
        ro = lse(c["frames"], other_audio, E)
        row.update(other_clip=clips[j]["name"], other_lse_d=ro["lse_d"], other_lse_c=ro["lse_c"],
                   other_offset=ro["offset"])
        row.update(lead5=lse(c["frames"], shift_audio(c["audio"], 5), E)["offset"],
                   lag5=lse(c["frames"], shift_audio(c["audio"], -5), E)["offset"])
        # the same clip re-rendered with its own mouth and with another clip's (padded with the last frame)
        mouth = clips[j]["labels"]["mouth"]
        mouth = np.concatenate([mouth, np.repeat(mouth[-1:], max(0, T - len(mouth)), 0)])[:T]
        true_r = render(c["meta"], c["labels"], c["labels"]["mouth"], man["resolution"])
        wrong_r = render(c["meta"], c["labels"], mouth, man["resolution"])
        with torch.no_grad():
            s_true, s_wrong = (float(sync_score(D, torch.from_numpy(f).permute(0, 3, 1, 2).float()[None] / 255,
                                                c["mel"][None])[0]) for f in (true_r, wrong_r))
        lt, lw = lse(true_r, c["audio"], E), lse(wrong_r, c["audio"], E)
        row.update(dsync_true=s_true, dsync_wrong_mouth=s_wrong, eval_true_lse_d=lt["lse_d"],
                   eval_wrong_mouth_lse_d=lw["lse_d"], eval_true_lse_c=lt["lse_c"], eval_wrong_mouth_lse_c=lw["lse_c"])
        with tempfile.TemporaryDirectory() as tmp:
            r2 = lse(*reencoded(c["frames"], c["audio"], tmp), E)
            lt2 = lse(*reencoded(true_r, c["audio"], tmp), E)
        row.update(reenc_rel_d=rel(r["lse_d"], r2["lse_d"]), reenc_rel_c=rel(r["lse_c"], r2["lse_c"]),
                   render_mp4_rel_d=rel(lt["lse_d"], lt2["lse_d"]), render_mp4_rel_c=rel(lt["lse_c"], lt2["lse_c"]))
        rows.append(row)
        print(f"{i + 1}/{len(clips)} {c['name']}: offset {r['offset']:+d}, LSE-D {r['lse_d']:.2f}, LSE-C "
              f"{r['lse_c']:.2f} (other audio {ro['lse_c']:.2f}), lead5 {row['lead5']:+d}, lag5 {row['lag5']:+d}, "
              f"D_sync 1 s {row['dsync_1s']}", flush=True)
    win = [k for r in rows for k in r["dsync_1s"]]
    frac = lambda xs: float(np.mean(xs))                                             # noqa: E731
    mean = lambda k: float(np.mean([r[k] for r in rows]))                            # noqa: E731
    bars = {
        "dsync_1s_within_1": dict(value=frac([abs(k) <= 1 for k in win]), n=len(win), target=">= 0.95"),
        "evaluator_offset_within_1": dict(value=frac([abs(r["offset"]) <= 1 for r in rows]), n=len(rows),
                                          target=">= 0.95"),
        "lse_c_ratio_true_vs_other_audio": dict(value=mean("lse_c") / mean("other_lse_c"), true=mean("lse_c"),
                                                other=mean("other_lse_c"), target=">= 3"),
        "shift_lead5_offset_5pm1": dict(value=frac([abs(r["lead5"] - 5) <= 1 for r in rows]), target=">= 0.95"),
        "shift_lag5_offset_m5pm1": dict(value=frac([abs(r["lag5"] + 5) <= 1 for r in rows]), target=">= 0.95"),
        "wrong_mouth_dsync_lower": dict(value=frac([r["dsync_wrong_mouth"] < r["dsync_true"] for r in rows]),
                                        true=mean("dsync_true"), wrong=mean("dsync_wrong_mouth"), target=">= 0.95"),
        "wrong_mouth_evaluator_lse_d_higher": dict(
            value=frac([r["eval_wrong_mouth_lse_d"] > r["eval_true_lse_d"] for r in rows]),
            true=mean("eval_true_lse_d"), wrong=mean("eval_wrong_mouth_lse_d"), target=">= 0.95"),
    }
    for name, key in (("mp4_reencode_dataset_clip_within_5pct", "reenc"), ("mp4_lossless_render_within_5pct",
                                                                          "render_mp4")):
        within = [max(r[f"{key}_rel_d"], r[f"{key}_rel_c"]) <= 0.05 for r in rows]
        bars[name] = dict(value=frac(within), median_rel_d=float(np.median([r[f"{key}_rel_d"] for r in rows])),
                          median_rel_c=float(np.median([r[f"{key}_rel_c"] for r in rows])),
                          max_rel_c=float(max(r[f"{key}_rel_c"] for r in rows)), target=">= 0.95")
    for k in ("mp4_reencode_dataset_clip_within_5pct", "mp4_lossless_render_within_5pct", "dsync_1s_within_1",
              "evaluator_offset_within_1", "shift_lead5_offset_5pm1", "shift_lag5_offset_m5pm1",
              "wrong_mouth_dsync_lower", "wrong_mouth_evaluator_lse_d_higher"):
        bars[k]["pass"] = bars[k]["value"] >= 0.95
    bars["lse_c_ratio_true_vs_other_audio"]["pass"] = bars["lse_c_ratio_true_vs_other_audio"]["value"] >= 3
    longest = max(clips, key=lambda c: len(c["frames"]))
    s = speed(E, longest)
    s1 = speed(E, longest, threads=1)
    bars["speed_10s_clip_s"] = dict(value=s, one_thread=s1, threads=torch.get_num_threads(), target="<= 2",
                                    **{"pass": s <= 2})
    res = dict(data=str(root), dsync=a.dsync, evaluator=a.evaluator, n_clips=len(rows),
               dsync_meta=json.loads(pathlib.Path(a.dsync).with_suffix(".json").read_text())["meta"],
               evaluator_meta=json.loads(pathlib.Path(a.evaluator).with_suffix(".json").read_text())["meta"],
               ground_truth=dict(lse_d=mean("lse_d"), lse_c=mean("lse_c"),
                                 offsets=np.bincount(np.array([r["offset"] for r in rows]) + 15,
                                                     minlength=31).tolist()),
               bars=bars, seconds=round(time.time() - t0, 1), clips=rows)
    print(json.dumps({k: v for k, v in res.items() if k != "clips"}, indent=1))
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
