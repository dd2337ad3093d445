"""The on-disk dataset format shared by synthetic and real data.

    DIR/manifest.json                     profile, resolution, fps, sample_rate, seed, format_version, splits
    DIR/<split>/<identity>/<clip>.mp4     H.264 video with AAC audio at 16 kHz
    DIR/<split>/<identity>/<clip>.npz     per-frame labels (see LABEL_SHAPES); any subset may be absent
    DIR/<split>/<identity>/<clip>.json    text, voice, style, phonemes [(name, start_s, end_s)], identity factors, ...

A clip is complete only once its ``.json`` exists: the json is renamed into place last, after the mp4 and npz, so an
interrupted writer never leaves a clip that loads. Readers list clips by their json files.
"""
from __future__ import annotations

import json
import os
import pathlib
import tempfile

import numpy as np

FORMAT_VERSION = 1
SPLITS = ("train", "val", "test")
# name -> (shape after the frame axis, meaning)
LABEL_SHAPES = {
    "landmarks": ((68, 2), "68 landmarks in pixels, dlib order"),
    "pose": ((6,), "yaw, pitch, roll in degrees, tx, ty in pixels from the centre, scale"),
    "eye_open": ((2,), "openness of the subject's right and left eye in [0, 1]"),
    "mouth": ((4,), "jaw_open, width, round, closure in [0, 1]"),
    "brow": ((), "brow raise in [0, 1]"),
}


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=1, sort_keys=True).encode())


def atomic_write_npz(path: str | os.PathLike, **arrays) -> None:
    import io
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def check_labels(labels: dict, n_frames: int) -> None:
    """Assert label arrays have the documented shapes ([T, ...])."""
    for name, arr in labels.items():
        if name not in LABEL_SHAPES:
            raise ValueError(f"unknown label {name!r}; known: {sorted(LABEL_SHAPES)}")
        want = (n_frames, *LABEL_SHAPES[name][0])
        if tuple(arr.shape) != want:
            raise ValueError(f"label {name!r} has shape {tuple(arr.shape)}, expected {want}")


def write_clip(root, split: str, identity: str, clip: str, frames: np.ndarray, audio: np.ndarray | None,
               labels: dict, meta: dict, fps: int = 25, sample_rate: int = 16000) -> pathlib.Path:
    """Write one clip atomically (mp4, then npz, then json last). Returns the json path.

    frames: uint8 [T, H, W, 3]; audio: float32 [N] at ``sample_rate`` or None; labels: name -> [T, ...].
    """
    from ..videoio import write_video
    assert split in SPLITS, split
    frames = np.asarray(frames)
    assert frames.ndim == 4 and frames.shape[-1] == 3 and frames.dtype == np.uint8, frames.shape  # [T, H, W, 3]
    check_labels(labels, len(frames))
    folder = pathlib.Path(root) / split / identity
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / clip
    write_video(base.with_suffix(".mp4"), frames, fps=fps, audio=audio, sample_rate=sample_rate)
    atomic_write_npz(base.with_suffix(".npz"), **{k: np.asarray(v, dtype=np.float32) for k, v in labels.items()})
    meta = dict(meta, n_frames=int(len(frames)), identity=identity, clip=clip, split=split)
    atomic_write_json(base.with_suffix(".json"), meta)
    return base.with_suffix(".json")


def read_manifest(root) -> dict:
    from ..errors import StyletalkerError
    path = pathlib.Path(root) / "manifest.json"
    if not path.exists():
        raise StyletalkerError(f"{path} not found: build a dataset with 'styletalker data --out {root}' "
                               f"or 'styletalker prepare SRC {root}'")
    manifest = json.loads(path.read_text())
    if manifest.get("format_version") != FORMAT_VERSION:
        raise StyletalkerError(f"{path} has format version {manifest.get('format_version')}, this code reads "
                               f"{FORMAT_VERSION}: rebuild the dataset")
    return manifest


def list_clips(root, split: str) -> list[pathlib.Path]:
    """Complete clips of a split, as paths without suffix, sorted."""
    folder = pathlib.Path(root) / split
    return sorted(p.with_suffix("") for p in folder.glob("*/*.json"))


def clip_is_complete(base: pathlib.Path) -> bool:
    return base.with_suffix(".json").exists()
