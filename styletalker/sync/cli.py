"""Command-line entry points: ``styletalker train sync``, ``train evaluator`` and ``evaluate sync VIDEO``.

The parser lives in :mod:`styletalker.cli`; these functions take its argparse namespace.
"""
from __future__ import annotations

import dataclasses
import pathlib
import sys
import time

from ..errors import StyletalkerError


def _train(args, kind: str) -> None:

    import torch

    from ..checkpoint import save_model
    from ..cli import _config_overrides, ensure_dataset
    from ..config import profile
    from ..device import describe, device as pick_device
    from ..paths import portable
    from .evaluator import evaluator_config
    from .model import sync_config
    from .train import SyncTrainConfig, evaluator_train_config, sync_train_config, train_sync_net
    prof = profile(args.profile)
    set_over = _config_overrides(args.set, SyncTrainConfig)               # bad --set fails before any work
    dev = pick_device(args.device)
    data = ensure_dataset(args.data, prof, args.quiet)
    over = {**set_over, **{k: v for k, v in dict(steps=args.steps, clips=args.batch, seed=args.seed).items()
                           if v is not None}}
    if kind == "dsync":
        net_cfg, train_cfg, name = sync_config(prof), sync_train_config(prof, **over), f"dsync_{prof}"
    else:
        net_cfg, train_cfg, name = evaluator_config(prof), evaluator_train_config(prof, **over), \
            f"sync_evaluator_{prof}"
    if train_cfg.rendered and kind != "dsync":
        raise StyletalkerError("--set rendered is for D_sync (train sync): the evaluator scores ground truth only")
    init = None
    if args.init:
        from ..checkpoint import load_model
        from .evaluator import EvaluatorConfig, SyncEvaluator
        from .model import DSync, SyncConfig
        build, cfg_cls = (DSync, SyncConfig) if kind == "dsync" else (SyncEvaluator, EvaluatorConfig)
        init = load_model(args.init, build, cfg_cls, kind=kind, expected=net_cfg).state_dict()
    out = pathlib.Path(args.out) if args.out else pathlib.Path("out") / "train" / name
    export = pathlib.Path(args.export) if args.export else out / name
    hw = describe(dev)
    renderer = None                                          # the talking pair, where rendered > 0 (below)

    def meta_of(step: int, seconds: float, done: bool) -> dict:
        return dict(profile=prof, data=portable(data), steps=step, seconds=round(seconds, 1), hardware=hw,
                    finished=done, init=args.init, renderer=renderer,
                    command="styletalker " + " ".join(sys.argv[1:]), train_config=dataclasses.asdict(train_cfg),
                    written=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), torch=torch.__version__)

    def export_now(stage, step: int, seconds: float) -> None:      # the network so far, in eval mode
        stage.net.eval()
        save_model(export, stage.net, net_cfg, kind=kind, meta=meta_of(step, seconds, False))
        stage.net.train()

    from .data import SyncClips
    clips = SyncClips(data, "train", (net_cfg.crop_h, net_cfg.crop_w), progress=not args.quiet)
    if clips.resolution != net_cfg.resolution:
        raise StyletalkerError(f"the dataset at {data} is {clips.resolution} px but the {prof} profile's {kind} "
                               f"expects {net_cfg.resolution} px: pass the matching --profile")
    if train_cfg.rendered:                                   # the talking pair's inversions of the same frames
        from ..cli import frozen_pair
        from ..data.dataset import ClipWindows
        from ..talker.train import code_bank
        gpath, epath, G, E = frozen_pair(args, prof, "cpu", talking=True)        # rendered once, on the CPU
        renderer = dict(generator=portable(gpath), encoder=portable(epath))
        codes = code_bank(E, ClipWindows(data, "train", window=5), out, progress=not args.quiet)
        clips.add_rendered(G, codes, progress=not args.quiet)
    stage, summary = train_sync_net(kind, data, out, net_cfg, train_cfg, dev, init=init,
                                    time_limit_s=args.minutes * 60 if args.minutes else None,
                                    progress=not args.quiet, ckpt_every=args.ckpt_every, on_checkpoint=export_now,
                                    data=clips)
    from ..training import read_log
    meta = meta_of(summary["step"], summary["seconds"], summary["done"])
    log = read_log(out)                                             # the loss curve, for the notebook's plot
    meta["curve"] = [dict(step=r["step"], loss=r["loss"], acc=r["acc"]) for r in log[::max(1, len(log) // 100)]]
    save_model(export, stage.net, net_cfg, kind=kind, meta=meta)
    state = "finished" if summary["done"] else "stopped at the time limit (run again to resume)"
    print(f"{state}: {summary['step']} steps in {summary['seconds']:.0f} s on {hw}; {kind} written to "
          f"{export}.safetensors (+ .json); checkpoint in {out}")


def train_sync(args) -> None:
    """``styletalker train sync``: D_sync, the contrastive lip-sync discriminator."""
    _train(args, "dsync")


def train_evaluator(args) -> None:
    """``styletalker train evaluator``: the independent sync evaluator (metrics only)."""
    _train(args, "sync_evaluator")


def read_clip(video, audio=None, fps: float = 25, sample_rate: int = 16000):
    """A video's frames uint8 [T, H, W, 3] and audio [N] (its own track, or ``audio``), checked for scoring.

    Raises StyletalkerError for a missing or unreadable file, a frame rate other than ``fps``, a video without
    audio (and no ``audio`` file) and a clip too short for the offset search.
    """
    from ..audio import load_audio
    from ..videoio import read_video, read_video_audio, video_info
    from .evaluator import VSHIFT, min_frames
    path = pathlib.Path(video)
    if not path.is_file():
        raise StyletalkerError(f"video {path} not found: check the path")
    info = video_info(path)
    if abs(info["fps"] - fps) > 0.01:
        raise StyletalkerError(f"{path} runs at {info['fps']:g} fps; lip sync is scored at {fps:g} fps: re-encode "
                               f"it (ffmpeg -i IN -r {fps:g} OUT.mp4)")
    if audio is not None:
        sound = load_audio(audio, sample_rate)
    else:
        sound = read_video_audio(path, sample_rate)
        if sound is None or len(sound) == 0:
            raise StyletalkerError(f"{path} has no audio track: pass the speech with --audio FILE")
    frames, _ = read_video(path)
    if len(frames) < min_frames(VSHIFT):
        raise StyletalkerError(f"{path} has {len(frames)} frames; scoring offsets up to +-{VSHIFT} needs at least "
                               f"{min_frames(VSHIFT)} ({min_frames(VSHIFT) / fps:.2f} s)")
    return frames, sound


def face_frames(frames, resolution: int) -> tuple:
    """Bring a video's frames to what the evaluator expects: a face crop (any size; the mouth crop is resized).

    Frames at the model's ``resolution`` are used as they are. Larger frames are checked with dlib on three frames:
    if the face is small in the frame (the dataset's crop around it, ``data.prepare``'s 1.8 x the face box, covers
    under 3/4 of the shorter side), every frame is cropped as ``styletalker prepare`` crops real clips (tracked,
    smoothed); otherwise (a face crop already, or no face found) the centre square is used, resized.
    Returns (frames uint8 [T, S, S, 3], a note for the user, or "").
    """
    import numpy as np

    from ..data import prepare as prep
    h, w = frames.shape[1:3]
    if (h, w) == (resolution, resolution):
        return frames, ""
    from ..face import FaceAnalyzer
    analyzer = FaceAnalyzer()
    probes = [prep._detect_box(analyzer, frames[t], None) for t in (0, len(frames) // 2, len(frames) - 1)]
    sides = [prep.CROP_SCALE * max(d[2], d[3]) for d in probes if d is not None]
    if sides and np.median(sides) < 0.75 * min(h, w):
        boxes = prep.track_boxes(frames, analyzer)
        crops = np.stack([prep.crop_frame(f, b, resolution) for f, b in zip(frames, boxes)])
        return crops, f" (frames {w}x{h} px: the face found by dlib was cropped to {resolution} px)"
    return frames, (f" (frames {w}x{h} px: taken as a face crop; centre square, mouth crop resized to the "
                    f"evaluator's scale)")


def evaluate(args) -> None:
    """``styletalker evaluate sync VIDEO``: LSE-D, LSE-C and the AV offset by the shipped (or given) evaluator."""
    import torch

    from .evaluator import lse, load_evaluator
    net = load_evaluator(args.weights)
    frames, sound = read_clip(args.video, args.audio)
    frames, note = face_frames(frames, net.cfg.resolution)
    with torch.no_grad():
        r = lse(frames, sound, net)
    print(f"LSE-D {r['lse_d']:.3f}  LSE-C {r['lse_c']:.3f}  offset {r['offset']:+d} frames (> 0: audio leads)  "
          f"[{len(frames)} frames]{note}")
