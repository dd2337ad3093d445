"""What the two sync networks see: the mouth crop of 5 frames, the 0.2 s log-mel window, and training runs of both.

The mouth crop is the lower half of the face crop, with an eighth of the width trimmed on each side (the cheeks and
background), in grey levels, resized to the network's crop size. It is written in torch so that the lip-sync loss
is differentiable with respect to generated frames. A video window of 5 frames starting at frame j is paired with
the mel window of its middle frame j + 2, which spans exactly those 5 frames (0.2 s; ``audio.mel_frames_for_video``).

Layout tags: ``[T]`` video frames, ``[h, w]`` mouth crop, ``[M, W]`` = [80 mel bands, 20 mel frames].
"""
from __future__ import annotations

import json

import numpy as np
import torch
import torch.nn.functional as F

from ..data.dataset import build_cache
from ..errors import StyletalkerError

WINDOW = 5            # video frames per window (SyncNet)
MEL_MEAN = -7.0       # log-mel statistics of the synthetic world's speech (silence floor -11.5); fixed constants so
MEL_STD = 3.6         # that a saved network needs no data statistics


def mouth_crop(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """frames [..., 3, H, W] in [0, 1] -> grey mouth crops [..., h, w] in [-1, 1] (differentiable).

    Rows H/2..H, columns W/8..W-W/8 of the face crop, resized to ``size`` = (h, w) by area averaging (or bilinear
    interpolation when enlarging).
    """
    H, W = frames.shape[-2:]
    r, g, b = frames.unbind(-3)
    grey = 0.299 * r + 0.587 * g + 0.114 * b                            # [..., H, W]
    crop = grey[..., H // 2:, W // 8: W - W // 8]
    lead = crop.shape[:-2]
    if tuple(crop.shape[-2:]) != tuple(size):
        flat = crop.reshape(-1, 1, *crop.shape[-2:])
        shrink = flat.shape[-2] >= size[0] and flat.shape[-1] >= size[1]
        flat = F.interpolate(flat, size=tuple(size), mode="area" if shrink else "bilinear",
                             **({} if shrink else dict(align_corners=False)))
        crop = flat.reshape(*lead, *size)
    return crop * 2 - 1


def normalise_mel(mel: torch.Tensor) -> torch.Tensor:
    """Raw log-mel (natural log of power) -> roughly zero-mean, unit-variance inputs."""
    return (mel - MEL_MEAN) / MEL_STD


def video_windows(crops: torch.Tensor) -> torch.Tensor:
    """crops [B, T, h, w] -> every 5-frame window [B, T-4, 5, h, w] (window j holds frames j..j+4)."""
    assert crops.dim() == 4 and crops.shape[1] >= WINDOW, crops.shape
    return crops.unfold(1, WINDOW, 1).permute(0, 1, 4, 2, 3)


def audio_windows(mel: torch.Tensor) -> torch.Tensor:
    """mel [B, T, M, W] (one window per frame) -> the window of each 5-frame window's middle frame [B, T-4, M, W]."""
    half = WINDOW // 2
    return mel[:, half: mel.shape[1] - half]


class SyncClips:
    """Every clip of a dataset split as mouth crops and mel windows, held in memory for fast sampling.

    crops  uint8   [N, h, w]    grey mouth crops of all frames, clip after clip
    mel    float16 [N, 80, 20]  the raw log-mel window of each frame
    starts, lengths  int64 [C]  where each clip lies in N
    """

    def __init__(self, root, split: str, crop: tuple[int, int], progress: bool = False, chunk: int = 1024):
        d = build_cache(root, split, progress)
        index = json.loads((d / "index.json").read_text())
        self.lengths = np.asarray(index["lengths"], np.int64)
        if len(self.lengths) == 0:
            raise StyletalkerError(f"no clips in split {split!r} of {root}: build the dataset first")
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        self.identities = np.asarray(index["identities"], np.int64)
        self.resolution = int(index["resolution"])
        n = int(self.lengths.sum())
        frames = np.load(d / "frames.npy", mmap_mode="r")
        crops = np.empty((n, *crop), np.uint8)
        with torch.no_grad():
            for a in range(0, n, chunk):
                f = torch.from_numpy(np.array(frames[a:a + chunk])).permute(0, 3, 1, 2).float() / 255
                crops[a:a + chunk] = _stored_crops(f, crop)
        self.crops = torch.from_numpy(crops)
        self.mel = torch.from_numpy(np.array(np.load(d / "mel.npy", mmap_mode="r")[:n]))
        self.crop = tuple(crop)
        self.rendered: torch.Tensor | None = None        # uint8 [N, h, w]: the renderer's crops (add_rendered)

    def add_rendered(self, G, codes: np.ndarray, batch: int = 64, progress: bool = False) -> None:
        """Also hold the mouth crops of every frame as a generator draws it from its inverted codes, G(Enc_I(x)):
        codes [N, K, D] in this split's frame order (``talker.train.code_bank``). ``runs(rendered=p)`` then draws a
        share p of its clips from them, so that a D_sync fine-tuned on both reads the renderer's mouths, which is what
        the talker's lip-sync loss shows it (a D_sync of the world's frames alone rejects them: ``benchmarks/
        dsync_domain.py``)."""
        from tqdm.auto import tqdm
        n = len(self.crops)
        if len(codes) != n:
            raise StyletalkerError(f"{len(codes)} codes for {n} frames: the codes are of another dataset")
        out = np.empty((n, *self.crop), np.uint8)
        with torch.no_grad():
            for a in tqdm(range(0, n, batch), desc="rendering inversions", disable=not progress):
                y = G.synthesis(torch.from_numpy(np.asarray(codes[a:a + batch], np.float32)))
                out[a:a + batch] = _stored_crops(((y.clamp(-1, 1) + 1) / 2).float(), self.crop)
        self.rendered = torch.from_numpy(out)

    def __len__(self) -> int:
        return len(self.lengths)

    def clip(self, c: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Clip c as (crops float [T, h, w] in [-1, 1], raw mel float [T, 80, 20])."""
        a, n = int(self.starts[c]), int(self.lengths[c])
        return self.crops[a:a + n].float() / 127.5 - 1, self.mel[a:a + n].float()

    def runs(self, n_clips: int, length: int, gen: torch.Generator, augment: bool = True,
             degrade: float = 0.0, rendered: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``n_clips`` distinct random clips, a random run of ``length`` frames from each; with probability
        ``rendered`` a clip's crops are the renderer's (:meth:`add_rendered`) instead of the frames'.

        Returns crops float [B, L, h, w] in [-1, 1], normalised mel [B, L, 80, 20] and the clip indices [B].
        Augmentation (per clip): horizontal flip, contrast and brightness jitter of the crops; with probability
        ``degrade``, a Gaussian blur (sigma 0.3..1 px) and pixel noise, which stand in for a second lossy encoding.
        """
        ok = np.flatnonzero(self.lengths >= length)
        if len(ok) < 2:
            raise StyletalkerError(f"fewer than 2 clips hold {length} frames: use a dataset with longer clips")
        pick = torch.randperm(len(ok), generator=gen)[:n_clips].numpy()
        clips = ok[pick]
        idx = []
        for c in clips:
            s = int(torch.randint(int(self.lengths[c]) - length + 1, [], generator=gen))
            idx.append(int(self.starts[c]) + s + np.arange(length))
        idx = torch.from_numpy(np.stack(idx))                                 # [B, L]
        crops = self.crops[idx].float() / 127.5 - 1                           # [B, L, h, w]
        if rendered > 0:
            if self.rendered is None:
                raise StyletalkerError("rendered > 0 needs the renderer's crops: call add_rendered first")
            pick = torch.rand(len(clips), generator=gen) < rendered
            crops = torch.where(pick[:, None, None, None], self.rendered[idx].float() / 127.5 - 1, crops)
        if augment:
            b = len(clips)
            flip = torch.rand(b, generator=gen) < 0.5
            crops = torch.where(flip[:, None, None, None], crops.flip(-1), crops)
            gain = 1 + 0.2 * (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1)
            bias = 0.1 * (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1)
            crops = crops * gain + bias
        if degrade > 0:
            crops = _degrade(crops, degrade, gen)
        return crops, normalise_mel(self.mel[idx].float()), torch.from_numpy(clips)


def _stored_crops(frames: torch.Tensor, crop: tuple[int, int]) -> np.ndarray:
    """Frames [N, 3, H, W] in [0, 1] -> their mouth crops as SyncClips stores them: uint8 [N, h, w]."""
    return ((mouth_crop(frames, crop) + 1) * 127.5).round().clamp(0, 255).byte().numpy()


def _degrade(crops: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """Blur (separable Gaussian, sigma 0.3..1 px) and noise (std 0..0.03) a random share p of the clips [B, L, h, w]."""
    B = len(crops)
    pick = torch.rand(B, generator=gen) < p
    sigma = 0.3 + 0.7 * torch.rand(B, 1, generator=gen)                           # [B, 1]
    x = torch.arange(-2, 3, dtype=torch.float32)
    k = torch.exp(-x ** 2 / (2 * sigma ** 2))
    k = k / k.sum(1, keepdim=True)                                                # [B, 5]
    L, h, w = crops.shape[1:]
    flat = F.pad(crops.reshape(1, B * L, h, w), (2, 2, 2, 2), mode="replicate")
    kk = k.repeat_interleave(L, 0)                                                # [B*L, 5]
    flat = F.conv2d(flat, kk[:, None, None, :], groups=B * L)                     # along w
    flat = F.conv2d(flat, kk[:, None, :, None], groups=B * L)                     # along h
    blurred = flat.reshape(B, L, h, w)
    noise = torch.randn(crops.shape, generator=gen) * 0.03 * torch.rand(B, 1, 1, 1, generator=gen)
    return torch.where(pick[:, None, None, None], blurred + noise, crops)
