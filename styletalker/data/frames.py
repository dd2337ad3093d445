"""Every frame of a dataset split as one uint8 tensor, for the image models (G_I, its encoder).

Synthetic datasets are re-rendered from their labels (lossless, and no video decoder is needed, which matters on GPU
machines without ffmpeg; the result is cached as ``DIR/.cache/<split>/bank.npy``); real clips are decoded through
the dataset cache of :mod:`styletalker.data.dataset`.
"""
from __future__ import annotations

import json
import os
import pathlib

import numpy as np
import torch

from ..errors import StyletalkerError
from . import format as fmt


def renderable(clips: list[pathlib.Path]) -> bool:
    """Whether clips carry what the world's renderer needs (synthetic clips do, real ones do not): the labels and
    identity factors of the first three are checked (none given: False)."""
    if not clips:
        return False
    for c in clips[:3]:
        if not (c.with_suffix(".npz").exists() and c.with_suffix(".json").exists()):
            return False
        with np.load(c.with_suffix(".npz")) as z:
            if not {"pose", "eye_open", "mouth", "brow"} <= set(z.files):
                return False
        if "identity_factors" not in json.loads(c.with_suffix(".json").read_text()):
            return False
    return True


def _identity_of(clip: pathlib.Path) -> torch.Tensor:
    from ..world import head
    meta = json.loads(clip.with_suffix(".json").read_text())
    return torch.tensor([meta["identity_factors"][k] for k in head.IDENTITY_FACTORS], dtype=torch.float32)


def render_clip(clip, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic clip (its .json and .npz labels) rendered again at any ``resolution``: (uint8 [T, R, R, 3],
    landmarks [T, 68, 2] in pixels). :func:`render_cross` with one clip in all three roles."""
    return render_cross(clip, clip, clip, None, resolution)


def render_cross(identity_clip, motion_clip, audio_clip, frames: int | None,
                 resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact cross-reenactment of the synthetic world: the person of ``identity_clip`` (A) with the head pose,
    eyes and brows of ``motion_clip`` (B) and the mouth of ``audio_clip`` (C), over their first ``frames`` frames
    (None: as many as the shorter has), drawn by the world's own renderer: (uint8 [T, R, R, 3], landmarks [T, 68, 2]
    in pixels). What a perfect talker would draw; the talker's cross-reenactment bars measured on it give the bars'
    own ceiling in this world."""
    from ..world import clip as wclip
    motion_clip, audio_clip = pathlib.Path(motion_clip), pathlib.Path(audio_clip)
    with np.load(motion_clip.with_suffix(".npz")) as zb, np.load(audio_clip.with_suffix(".npz")) as zc:
        n = min(len(zb["pose"]), len(zc["mouth"]))
        if frames is None:
            frames = n
        elif n < frames:
            raise ValueError(f"{frames} frames asked of clips of {len(zb['pose'])} and {len(zc['mouth'])}")
        params = wclip.frame_params(zb["pose"][:frames], zb["eye_open"][:frames], zb["brow"][:frames],
                                    zc["mouth"][:frames])
    return wclip.render_frames(_identity_of(pathlib.Path(identity_clip)), params, resolution)


def frame_bank(root, split: str = "train", progress: bool = True) -> torch.Tensor:
    """Every frame of a split as uint8 [N, 3, R, R].

    Synthetic datasets are re-rendered from their labels (lossless, and no video decoder is needed, which matters
    on GPU machines without ffmpeg); real clips are decoded through the dataset cache.
    """
    root = pathlib.Path(root)
    man = fmt.read_manifest(root)
    clips = fmt.list_clips(root, split)
    if not clips:
        raise StyletalkerError(f"no clips in split {split!r} of {root}: build it with 'styletalker data'")
    if not renderable(clips):
        from .dataset import build_cache
        d = build_cache(root, split, progress)
        idx = json.loads((d / "index.json").read_text())
        n = int(sum(idx["lengths"]))
        frames = np.array(np.load(d / "frames.npy", mmap_mode="r")[:n])       # [N, R, R, 3]
        return torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous()
    cached = root / ".cache" / split / "bank.npy"
    if cached.exists() and cached.stat().st_mtime >= max(c.with_suffix(".npz").stat().st_mtime for c in clips):
        return torch.from_numpy(np.load(cached))
    from tqdm.auto import tqdm

    out = []
    for c in tqdm(clips, desc=f"rendering {split} frames", disable=not progress, mininterval=2):
        frames, _ = render_clip(c, man["resolution"])
        out.append(torch.from_numpy(frames).permute(0, 3, 1, 2))
    bank = torch.cat(out).contiguous()
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f".bank.tmp{os.getpid()}.npy")
    np.save(tmp, bank.numpy())
    os.replace(tmp, cached)                                          # rendered once, reused by later runs
    return bank


def to_float(frames: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 3, R, R] -> float [-1, 1]."""
    return frames.float() / 127.5 - 1


def label_bank(root, split: str, name: str) -> torch.Tensor:
    """One label of every frame of a split, in :func:`frame_bank` order: float32 [N, ...] (e.g. landmarks [N, 68, 2]).

    Raises a clear error when some clip lacks the label (real clips have landmarks only after ``prepare``)."""
    root = pathlib.Path(root)
    out = []
    for c in fmt.list_clips(root, split):
        with np.load(c.with_suffix(".npz")) as z:
            if name not in z.files:
                raise StyletalkerError(f"clip {c.name} in {root}/{split} has no {name!r} label: this dataset cannot "
                                       f"supervise {name}")
            out.append(torch.from_numpy(np.asarray(z[name], np.float32)))
    return torch.cat(out)


# a frame's eyes count as closed when the mean openness of both (the world's eye_open label) is below this
EYE_CLOSED = 0.5


def closed_eye_frames(root, split: str = "train") -> torch.Tensor:
    """Indices (int64 [M]) of a split's frames, in :func:`frame_bank` order, whose mean eye openness is below
    ``EYE_CLOSED``: about 3 % of the default world's training frames (blinks are short), the rare class that
    :func:`draw_frames` over-samples. Data without eye labels (real clips) get :func:`label_bank`'s clear error."""
    eyes = label_bank(root, split, "eye_open")
    return torch.nonzero(eyes.reshape(len(eyes), -1).mean(1) < EYE_CLOSED).flatten()


def draw_frames(n: int, batch: int, gen: torch.Generator, rare: torch.Tensor | None = None,
                share: float = 0.0) -> torch.Tensor:
    """Indices of one training batch (int64 [batch]) into n frames: ``round(share * batch)`` of them drawn uniformly
    from ``rare`` (e.g. :func:`closed_eye_frames`), the rest uniformly from all n. With no share the draw is exactly
    ``torch.randint(n, [batch], generator=gen)``, so runs without over-sampling keep their random stream."""
    k = round(share * batch)
    if k == 0:
        return torch.randint(n, [batch], generator=gen)
    if rare is None or len(rare) == 0:
        raise StyletalkerError(f"over-sampling {share:g} of each batch needs frames of the rare class, and this data "
                               "has none (no frame with closed eyes): use a share of 0")
    common = torch.randint(n, [batch - k], generator=gen)
    picked = rare[torch.randint(len(rare), [k], generator=gen)]
    return torch.cat([common, picked])


def check_share(share: float, flag: str = "--closed-eyes") -> float:
    """A share of each batch for :func:`draw_frames`: in [0, 1), else a clear error."""
    if not 0 <= share < 1:
        raise StyletalkerError(f"{flag} {share:g}: the share of each batch drawn from closed-eye frames must be at "
                               "least 0 and below 1 (e.g. 0.2)")
    return share
