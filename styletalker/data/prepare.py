"""Real clips -> the dataset format: the path for users with VoxCeleb2-style data (DESIGN.md section 2).

SRC holds ``SRC/<identity>/<anything>/<clip>.mp4`` or ``SRC/<identity>/<clip>.mp4``; an mp4 lying directly in SRC is
its own identity. Each clip is resampled to ``fps`` by nearest-timestamp frame selection, the face is tracked with
dlib, a smoothed square crop around it is resized to ``resolution``, and dlib's 68 landmarks on the crop become the
``landmarks`` label (NaN where no face is found). Pose, eye and mouth labels cannot be known for real clips and are
absent. Identities are split between train/val/test so that no identity appears in two splits.

Crop (our choice, in the spirit of the VoxCeleb/FOMM crops): the square's side is ``CROP_SCALE`` (1.8) times the
larger side of dlib's face box (which spans about brows to chin), and its centre is ``CROP_SHIFT`` (0.1) box heights
below the box centre, so the hair and the top of the shoulders fit. Box centre and size are smoothed over time with a
centred moving average so the crop does not jitter; a frame without detection holds the last box.
"""
from __future__ import annotations

import json
import pathlib
import warnings

import numpy as np

from ..errors import StyletalkerError
from .format import FORMAT_VERSION, SPLITS, atomic_write_json, clip_is_complete, write_clip

CROP_SCALE = 1.8      # crop side / larger side of dlib's face box
CROP_SHIFT = 0.1      # crop centre below the box centre, in box heights
DETECT_MAX_SIDE = 360  # frames are downscaled to this shorter side for detection only (HOG cost grows with area)


def find_clips(src) -> dict[str, list[pathlib.Path]]:
    """identity -> sorted mp4 paths. Identity = the first folder level under SRC, or the file's stem at top level."""
    src = pathlib.Path(src)
    if not src.is_dir():
        raise StyletalkerError(f"source folder {src} not found: pass a folder of <identity>/.../<clip>.mp4 files")
    clips: dict[str, list[pathlib.Path]] = {}
    for path in sorted(src.rglob("*.mp4")):
        rel = path.relative_to(src)
        if any(part.startswith(".") for part in rel.parts):  # temporary or hidden files
            continue
        identity = rel.parts[0] if len(rel.parts) > 1 else path.stem
        clips.setdefault(identity, []).append(path)
    if not clips:
        raise StyletalkerError(f"no .mp4 files under {src}: pass a folder of <identity>/.../<clip>.mp4 files")
    return clips


def clip_name(src, path) -> str:
    """A clip name unique within its identity: the path below the identity folder, '/' -> '_', no suffix."""
    rel = pathlib.Path(path).relative_to(src).with_suffix("")
    parts = rel.parts[1:] if len(rel.parts) > 1 else rel.parts
    return "_".join(parts)


def split_identities(identities, split_fractions=(0.8, 0.1, 0.1), seed: int = 0) -> dict[str, list[str]]:
    """Shuffle identities with ``seed`` and cut them by ``split_fractions``; train gets at least one identity.
    Returns {"train": [...], "val": [...], "test": [...]} with each list sorted."""
    ids = sorted(identities)
    fractions = np.asarray(split_fractions, dtype=np.float64)
    assert len(fractions) == 3 and (fractions >= 0).all() and fractions.sum() > 0, split_fractions
    fractions = fractions / fractions.sum()
    order = [ids[i] for i in np.random.default_rng(seed).permutation(len(ids))]
    n = len(ids)
    n_train = min(n, max(1, int(round(fractions[0] * n))))
    n_val = min(n - n_train, int(round(fractions[1] * n)))
    cuts = {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
    return {k: sorted(v) for k, v in cuts.items()}


def _resampled_frames(path, fps: float, fps_in: float, max_seconds: float | None):
    """Yield the frames of ``path`` at ``fps``: output frame k shows the input frame nearest to time k / fps."""
    from ..videoio import iter_frames
    k = 0
    for i, frame in enumerate(iter_frames(path)):
        # emit every output index whose nearest input index is i (several when upsampling, none when dropping)
        while int(np.floor(k * fps_in / fps + 0.5)) == i:
            if max_seconds is not None and k >= max_seconds * fps:
                return
            yield frame
            k += 1


def _detect_box(analyzer, frame: np.ndarray, previous) -> np.ndarray | None:
    """(cx, cy, w, h) of the tracked face in frame pixels, or None. With several faces, take the one nearest to the
    previous box (the tracked person), else the detector's best."""
    from PIL import Image
    h, w = frame.shape[:2]
    s = min(1.0, DETECT_MAX_SIDE / min(h, w))
    small = frame if s == 1.0 else np.asarray(Image.fromarray(frame).resize((round(w * s), round(h * s)),
                                                                            Image.BILINEAR))
    boxes = analyzer.detect(small)
    if not boxes:
        return None
    b = np.asarray(boxes, dtype=np.float64)
    b = (b + 0.5) / (small.shape[1] / w) - 0.5  # back to frame pixels
    cxcywh = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)
    if previous is None:
        return cxcywh[0]
    return cxcywh[np.argmin(np.linalg.norm(cxcywh[:, :2] - previous[:2], axis=1))]


def _moving_average(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along axis 0 with edge padding; x [T, C] -> [T, C]."""
    if window <= 1 or len(x) < 2:
        return x
    half = window // 2
    padded = np.pad(x, ((half, half), (0, 0)), mode="edge")
    kernel = np.ones(2 * half + 1) / (2 * half + 1)
    return np.stack([np.convolve(padded[:, c], kernel, mode="valid") for c in range(x.shape[1])], 1)


def crop_boxes(detections: list, smooth_frames: int = 7) -> np.ndarray | None:
    """Square crop boxes [T, 4] (left, top, right, bottom) from per-frame detections [(cx, cy, w, h) or None].

    Frames without a detection hold the last box (leading ones take the first); None if nothing was detected.
    """
    found = [i for i, d in enumerate(detections) if d is not None]
    if not found:
        return None
    held = []
    last = detections[found[0]]
    for d in detections:
        last = d if d is not None else last
        held.append(last)
    held = np.asarray(held, dtype=np.float64)                                    # [T, 4] cx, cy, w, h
    params = np.stack([held[:, 0], held[:, 1] + CROP_SHIFT * held[:, 3],
                       CROP_SCALE * np.maximum(held[:, 2], held[:, 3])], 1)      # [T, 3] cx, cy, side
    cx, cy, side = _moving_average(params, smooth_frames).T
    return np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], 1)


def crop_frame(frame: np.ndarray, box, resolution: int) -> np.ndarray:
    """Crop ``box`` (left, top, right, bottom) from uint8 [H, W, 3], replicating edge pixels where the box leaves the
    frame, and resize to uint8 [resolution, resolution, 3]."""
    from PIL import Image
    h, w = frame.shape[:2]
    left, top = int(np.floor(box[0])), int(np.floor(box[1]))
    side = max(1, int(round(box[2] - box[0])))
    pad = max(0, -left, -top, left + side - w, top + side - h)
    if pad:
        frame = np.pad(frame, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    crop = frame[top + pad:top + pad + side, left + pad:left + pad + side]
    return np.asarray(Image.fromarray(crop).resize((resolution, resolution), Image.LANCZOS))


def track_boxes(frames, analyzer, stride: int = 1) -> np.ndarray | None:
    """Smoothed square crop boxes [T, 4] for an iterable of frames, tracking the face from frame to frame (the
    nearest detection to the last one); None when no frame has a face.

    stride k > 1 runs the detector on every k-th frame and the last one only, and interpolates the boxes linearly in
    between (where both neighbours found the face; elsewhere the last box is held): k times fewer detections, for
    generation's driving videos, whose boxes are then smoothed over ``crop_boxes``'s 7 frames anyway. ``prepare``
    detects on every frame."""
    detections, previous, last = [], None, None
    for i, frame in enumerate(frames):
        d = None
        if i % stride == 0:
            d = _detect_box(analyzer, frame, previous)
            previous = d if d is not None else previous
            last = None
        else:
            last = frame
        detections.append(d)
    if last is not None:                                             # the last frame is always detected
        detections[-1] = _detect_box(analyzer, last, previous)
    for a in range(0, len(detections) - 1, stride):                 # fill the skipped frames
        b = min(a + stride, len(detections) - 1)
        if detections[a] is not None and detections[b] is not None:
            for i in range(a + 1, b):
                t = (i - a) / (b - a)
                detections[i] = (1 - t) * detections[a] + t * detections[b]
    return crop_boxes(detections)


def face_crop(image: np.ndarray, resolution: int, analyzer=None) -> tuple[np.ndarray, bool]:
    """One image -> (uint8 [resolution, resolution, 3] face crop, whether dlib found a face).

    The crop is the one ``prepare`` makes for video frames (CROP_SCALE, CROP_SHIFT), so a photo lands where the
    dataset's faces are. Without a detection the largest centred square is used instead (the caller warns).
    """
    if analyzer is None:
        from ..face import FaceAnalyzer
        analyzer = FaceAnalyzer()
    det = _detect_box(analyzer, image, None)
    if det is None:
        h, w = image.shape[:2]
        side = min(h, w)
        box = np.array([(w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2])
        return crop_frame(image, box, resolution), False
    return crop_frame(image, crop_boxes([det], 1)[0], resolution), True


def prepare_clip(path, analyzer, resolution: int = 64, fps: float = 25, sample_rate: int = 16000,
                 max_seconds: float | None = None):
    """Process one source clip. Returns (frames uint8 [T, R, R, 3], audio float32 [N] or None,
    landmarks float32 [T, 68, 2], meta dict) or None (with a warning) when no face is found."""
    from ..videoio import read_video_audio, video_info
    info = video_info(path)
    fps_in = info["fps"] or fps
    # pass 1: track the face; pass 2 decodes again to crop, so a long HD clip never sits in memory at full size
    boxes = track_boxes(_resampled_frames(path, fps, fps_in, max_seconds), analyzer)
    if boxes is None:
        warnings.warn(f"no face found in {path}; skipping the clip")
        return None
    frames = np.stack([crop_frame(f, b, resolution) for f, b in
                       zip(_resampled_frames(path, fps, fps_in, max_seconds), boxes)])   # [T, R, R, 3]
    assert len(frames) == len(boxes), (len(frames), len(boxes))
    landmarks = np.full((len(frames), 68, 2), np.nan, dtype=np.float32)
    for t, crop in enumerate(frames):
        lm = analyzer.landmarks(crop)
        if lm is not None:
            landmarks[t] = lm
    audio = read_video_audio(path, sample_rate) if info["has_audio"] else None
    if audio is not None:
        # exactly T / fps seconds so audio sample n and frame t stay aligned for training (trim or zero-pad the end)
        n = int(round(len(frames) * sample_rate / fps))
        audio = np.pad(audio[:n], (0, max(0, n - len(audio)))).astype(np.float32)
    meta = {"source": str(path), "fps_in": fps_in, "crop_boxes": np.round(boxes, 2).tolist(),
            "has_audio": audio is not None, "text": None,
            "face_frames": int(np.isfinite(landmarks[:, 0, 0]).sum())}
    return frames, audio, landmarks, meta


def prepare(src, dst, resolution: int = 64, fps: int = 25, sample_rate: int = 16000,
            split_fractions=(0.8, 0.1, 0.1), seed: int = 0, progress: bool = True,
            max_seconds: float | None = None) -> dict:
    """Turn a VoxCeleb2-style folder SRC into a dataset at DST (format: :mod:`styletalker.data.format`).

    Resumable: clips whose json already exists are skipped. max_seconds keeps only the start of each clip (tests,
    quick looks). Returns the manifest, which lists per split the identities with at least one complete clip.
    """
    from ..face import FaceAnalyzer
    src, dst = pathlib.Path(src), pathlib.Path(dst)
    clips = find_clips(src)
    splits = split_identities(clips, split_fractions, seed)
    split_of = {identity: split for split, ids in splits.items() for identity in ids}
    dst.mkdir(parents=True, exist_ok=True)
    analyzer = FaceAnalyzer()

    jobs = [(identity, path) for identity in sorted(clips) for path in clips[identity]]
    if progress:
        from tqdm.auto import tqdm
        jobs = tqdm(jobs, desc="prepare", unit="clip")
    for identity, path in jobs:
        split, name = split_of[identity], clip_name(src, path)
        if clip_is_complete(dst / split / identity / name):
            continue
        try:
            result = prepare_clip(path, analyzer, resolution, fps, sample_rate, max_seconds)
        except StyletalkerError as e:  # one corrupt file should not stop a dataset of thousands
            warnings.warn(f"skipping {path}: {e}")
            continue
        if result is None:
            continue
        frames, audio, landmarks, meta = result
        write_clip(dst, split, identity, name, frames, audio, {"landmarks": landmarks}, meta, fps=fps,
                   sample_rate=sample_rate)

    complete = {s: sorted(i for i in splits[s] if any((dst / s / i).glob("*.json"))) for s in SPLITS}
    manifest = {"format_version": FORMAT_VERSION, "source": "real", "profile": None, "resolution": resolution,
                "fps": fps, "sample_rate": sample_rate, "seed": seed, "splits": complete}
    path = dst / "manifest.json"
    # rewrite only on change, so a resumed run that did nothing leaves every file untouched
    if not path.exists() or json.loads(path.read_text()) != manifest:
        atomic_write_json(path, manifest)
    return manifest
