"""A torch Dataset of training windows: T frames, the matching mel windows and the labels, from a decoded cache.

Decoding mp4 on every step would dominate training on a CPU, so the first use of a split decodes every clip once into
memory-mapped arrays under ``DIR/.cache/<split>/``:

    frames.u8     uint8   [N, H, W, 3]    all frames of the split, clip after clip
    mel.f16       float16 [N, 80, 20]     the 0.2 s log-mel window of each frame (audio.mel_frames_for_video)
    <label>.f32   float32 [N, ...]        each label that every clip of the split has
    index.json    clip paths, frame offsets, identities, which labels exist

Two processes that build the same cache at once are safe: the build holds an exclusive file lock, writes to a
temporary folder and renames it into place; the second process waits on the lock and then finds the cache. Real
clips (from ``styletalker prepare``) have no pose or mouth labels: the cache stores the labels that all clips have,
and a clip without audio gets silence (log floor) for its mel windows.
"""
from __future__ import annotations

import fcntl
import json
import os
import pathlib
import shutil

import numpy as np
import torch

from ..audio import MelConfig, log_mel, mel_frames_for_video
from ..videoio import iter_frames, read_video_audio
from . import format as fmt

CACHE_VERSION = 1


def _cache_dir(root: pathlib.Path, split: str) -> pathlib.Path:
    return root / ".cache" / split


def build_cache(root, split: str, progress: bool = False) -> pathlib.Path:
    """Decode a split into the memory-mapped cache (once; safe under concurrent callers). Returns its folder."""
    root = pathlib.Path(root)
    man = fmt.read_manifest(root)
    final = _cache_dir(root, split)
    index_path = final / "index.json"
    clips = fmt.list_clips(root, split)

    def fresh() -> bool:
        if not index_path.exists():
            return False
        idx = json.loads(index_path.read_text())
        return idx.get("version") == CACHE_VERSION and idx.get("clips") == [str(c.relative_to(root)) for c in clips]

    if fresh():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(final.parent / f"{split}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)                           # the second builder waits here
        if fresh():
            return final
        tmp = final.parent / f".{split}.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        metas = [json.loads(c.with_suffix(".json").read_text()) for c in clips]
        lengths = [int(m["n_frames"]) for m in metas]
        total, res = int(sum(lengths)), int(man["resolution"])
        label_sets = [set(np.load(c.with_suffix(".npz")).files) for c in clips]
        labels = sorted(set.intersection(*label_sets)) if label_sets else []
        cfg = MelConfig(sample_rate=int(man["sample_rate"]))
        w = int(round(0.2 * cfg.sample_rate / cfg.hop_length))
        frames = np.lib.format.open_memmap(tmp / "frames.npy", "w+", np.uint8, (max(total, 1), res, res, 3))
        mel = np.lib.format.open_memmap(tmp / "mel.npy", "w+", np.float16, (max(total, 1), cfg.n_mels, w))
        lab = {k: np.lib.format.open_memmap(tmp / f"{k}.npy", "w+", np.float32,
                                            (max(total, 1), *fmt.LABEL_SHAPES[k][0])) for k in labels}
        from tqdm.auto import tqdm
        offset = 0
        for c, n in zip(tqdm(clips, desc=f"caching {split}", disable=not progress), lengths):
            t = 0
            for t, f in enumerate(iter_frames(c.with_suffix(".mp4"))):
                if t >= n:
                    break
                frames[offset + t] = f
            if t + 1 < n:                                          # a short decode: repeat the last frame
                frames[offset + t + 1: offset + n] = frames[offset + t]
            audio = read_video_audio(c.with_suffix(".mp4"), cfg.sample_rate)
            need = int(round(n * cfg.sample_rate / int(man["fps"])))
            a = np.zeros(max(need, cfg.n_fft), np.float32)
            if audio is not None:
                a[:min(len(a), len(audio))] = audio[:len(a)]
            m = mel_frames_for_video(log_mel(a, cfg), n, int(man["fps"]), 0.2, cfg)       # [n, 80, W]
            mel[offset:offset + n] = m.numpy().astype(np.float16)
            npz = np.load(c.with_suffix(".npz"))
            for k in labels:
                lab[k][offset:offset + n] = npz[k]
            offset += n
        for arr in (frames, mel, *lab.values()):
            arr.flush()
        ident = sorted({m["identity"] for m in metas})
        index = dict(version=CACHE_VERSION, clips=[str(c.relative_to(root)) for c in clips], lengths=lengths,
                     identities=[ident.index(m["identity"]) for m in metas], identity_names=ident,
                     labels=labels, resolution=res, fps=man["fps"])
        fmt.atomic_write_json(tmp / "index.json", index)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    return final


class ClipWindows(torch.utils.data.Dataset):
    """Training windows of ``window`` consecutive frames from one split.

    Item: dict with
        frames   float32 [T, 3, H, W] in [0, 1]
        mel      float32 [T, 80, 20] log-mel window per frame
        <label>  float32 [T, ...] for each label the split has (landmarks, pose, eye_open, mouth)
        identity int64 index of the identity within the split
        clip     int64 index of the clip
        start    int64 first frame within the clip
    """

    def __init__(self, root, split: str = "train", window: int = 5, stride: int | None = None,
                 progress: bool = False):
        self.root = pathlib.Path(root)
        self.dir = build_cache(self.root, split, progress)
        self.index = json.loads((self.dir / "index.json").read_text())
        self.window = window
        stride = stride or window
        self.frames = np.load(self.dir / "frames.npy", mmap_mode="r")
        self.mel = np.load(self.dir / "mel.npy", mmap_mode="r")
        self.labels = {k: np.load(self.dir / f"{k}.npy", mmap_mode="r") for k in self.index["labels"]}
        offsets = np.concatenate([[0], np.cumsum(self.index["lengths"])])
        self.offsets = offsets
        self.items = [(ci, s) for ci, n in enumerate(self.index["lengths"]) for s in range(0, n - window + 1, stride)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        ci, s = self.items[i]
        a = int(self.offsets[ci]) + s
        b = a + self.window
        out = dict(
            frames=torch.from_numpy(np.array(self.frames[a:b])).permute(0, 3, 1, 2).float() / 255.0,
            mel=torch.from_numpy(np.asarray(self.mel[a:b], dtype=np.float32)),
            identity=torch.tensor(self.index["identities"][ci]),
            clip=torch.tensor(ci),
            start=torch.tensor(s),
        )
        for k, v in self.labels.items():
            out[k] = torch.from_numpy(np.array(v[a:b]))
        return out
