"""The sync evaluator: a second SyncNet-style network, for metrics only (LSE-D, LSE-C), never used as a loss.

The field measures lip sync with syncnet_python's pretrained SyncNet (Chung and Zisserman 2016); none can be
downloaded here, so this project trains its own, apart from D_sync (own architecture, own initialisation, own loss),
so that a model trained against D_sync is not judged by it.

Architecture (ours): a per-frame CNN on the grey mouth crop, then temporal convolutions over 5 frames (so a clip's
frames are encoded once and every 5-frame window falls out of one pass); an audio CNN on the 0.2 s mel window as an
image (SyncNet's audio stream). Embeddings are not normalised: like SyncNet, the score is a Euclidean distance.
Training (Chung and Zisserman 2019, "Perfect match"): multi-way matching with logits = -distance, the candidates
being the windows of the same clip at other offsets and the windows of other clips.

Scoring follows syncnet_python (``SyncNetInstance.evaluate``): embed every 5-frame window and its audio window, and
for each offset k in -15..+15 average the distance between video window j and audio window j + k; the offset with the
smallest mean distance is the one found; LSE-D is that distance and LSE-C (confidence) the median over offsets minus
it. Two details are ours: the mean at offset k runs over the windows whose shifted partner exists (syncnet_python pads
with zero vectors, which biases short clips), and the offset's sign is syncnet_python's: ``offset > 0`` means the
audio leads the video (video window j matches audio window j - offset).
"""
from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..audio import MelConfig, log_mel, mel_frames_for_video
from ..checkpoint import load_model
from ..config import profile
from ..errors import StyletalkerError
from ..paths import WEIGHTS_DIR
from .data import WINDOW, audio_windows, mouth_crop, normalise_mel

SHIPPED_EVALUATOR = WEIGHTS_DIR / "sync_evaluator_default"
VSHIFT = 15                   # offsets -15..+15 frames (syncnet_python's --vshift)


@dataclasses.dataclass(frozen=True)
class EvaluatorConfig:
    """Size of the sync evaluator."""
    resolution: int = 64        # face-crop side of the training data (other sizes are resized)
    crop_h: int = 32            # mouth crop height (lower half of the face)
    crop_w: int = 48            # mouth crop width
    width: int = 16             # channels of the per-frame CNN's first layer (x2, x4 after)
    frame_dim: int = 64         # per-frame feature size
    temporal: int = 128         # channels of the temporal convolutions
    audio_width: int = 16       # channels of the audio CNN's first layer (x2, x4 after)
    embed_dim: int = 64         # embedding size
    n_mels: int = 80            # mel bands
    mel_window: int = 20        # mel frames per window (0.2 s)
    seed: int = 1               # initialisation seed (D_sync uses 0)


EVALUATOR_PRESETS = {
    "quick": EvaluatorConfig(resolution=32, crop_h=16, crop_w=24, width=8, frame_dim=32, temporal=64,
                             audio_width=8, embed_dim=32),
    "default": EvaluatorConfig(),
    "full": EvaluatorConfig(resolution=128, crop_h=48, crop_w=72, width=24, frame_dim=96, temporal=192,
                            audio_width=24, embed_dim=96),
}


def evaluator_config(name: str | None = None, **overrides) -> EvaluatorConfig:
    """The evaluator preset of a profile, with optional field overrides."""
    return dataclasses.replace(EVALUATOR_PRESETS[profile(name)], **overrides)


def _block(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False), nn.BatchNorm2d(c_out),
                         nn.LeakyReLU(0.1, True))


class SyncEvaluator(nn.Module):
    """``embed_video`` crops [B, T, h, w] -> [B, T-4, D] (every window); ``embed_audio`` [N, 80, 20] -> [N, D]."""

    def __init__(self, cfg: EvaluatorConfig):
        super().__init__()
        self.cfg = cfg
        with torch.random.fork_rng(devices=[]):      # own initialisation, global RNG untouched
            torch.manual_seed(cfg.seed)
            self._build(cfg)

    def _build(self, cfg: EvaluatorConfig) -> None:
        w = cfg.width
        self.frame = nn.Sequential(                  # [N, 1, h, w] -> [N, 4w, h/8, w/8]
            _block(1, w, 5, 2), _block(w, 2 * w, 3, 2), _block(2 * w, 4 * w, 3), nn.AvgPool2d(2))
        self.frame_fc = nn.Linear(4 * w * (cfg.crop_h // 8) * (cfg.crop_w // 8), cfg.frame_dim)
        t = cfg.temporal                             # two valid k=3 convolutions: 5 frames -> 1 window
        self.time = nn.Sequential(nn.Conv1d(cfg.frame_dim, t, 3), nn.BatchNorm1d(t), nn.LeakyReLU(0.1, True),
                                  nn.Conv1d(t, t, 3), nn.BatchNorm1d(t), nn.LeakyReLU(0.1, True),
                                  nn.Conv1d(t, cfg.embed_dim, 1))
        a = cfg.audio_width
        self.audio = nn.Sequential(                  # [N, 1, 80, 20] -> [N, 4a, 5, 5]
            _block(1, a, 3), nn.MaxPool2d((4, 2)), _block(a, 2 * a, 3), nn.MaxPool2d(2),
            _block(2 * a, 4 * a, 3), nn.MaxPool2d((2, 1)))
        self.audio_fc = nn.Sequential(nn.Linear(4 * a * (cfg.n_mels // 16) * (cfg.mel_window // 4), 128),
                                      nn.LeakyReLU(0.1, True), nn.Linear(128, cfg.embed_dim))

    @property
    def crop(self) -> tuple[int, int]:
        return self.cfg.crop_h, self.cfg.crop_w

    def embed_video(self, crops: torch.Tensor) -> torch.Tensor:
        """grey mouth crops [B, T, h, w] in [-1, 1] -> window embeddings [B, T-4, D] (window j = frames j..j+4)."""
        B, T = crops.shape[:2]
        assert crops.shape[2:] == self.crop and T >= WINDOW, crops.shape
        f = self.frame_fc(self.frame(crops.reshape(B * T, 1, *self.crop)).flatten(1))    # [B*T, F]
        return self.time(f.reshape(B, T, -1).transpose(1, 2)).transpose(1, 2)          # [B, T-4, D]

    def embed_audio(self, mel: torch.Tensor) -> torch.Tensor:
        """normalised mel windows [N, 80, 20] -> embeddings [N, D]."""
        assert mel.shape[1:] == (self.cfg.n_mels, self.cfg.mel_window), mel.shape
        return self.audio_fc(self.audio(mel[:, None]).flatten(1))


def matching_loss(v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Multi-way matching with logits -||v_i - a_j||: v, a [N, D] with v_i and a_i the positive pairs; both ways."""
    logits = -torch.cdist(v, a)
    target = torch.arange(len(v), device=v.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


# --------------------------------------------------------------------------------------------------------- scoring
def offset_distances(v: torch.Tensor, a: torch.Tensor, vshift: int = VSHIFT) -> torch.Tensor:
    """Mean distance between video window j and audio window j + k, for k = -vshift..vshift.

    v, a [n, D] (n windows of one clip) -> [2 vshift + 1]; entry vshift + k averages over the j where both exist.
    """
    n = len(v)
    assert len(a) == n and n > vshift, (v.shape, a.shape, vshift)
    d = torch.cdist(v, a)                                                      # [n, n], d[j, i] = |v_j - a_i|
    out = []
    for k in range(-vshift, vshift + 1):
        out.append(torch.diagonal(d, offset=k).mean())                         # pairs (j, j + k)
    return torch.stack(out)


def scores_from_distances(mdist: torch.Tensor, vshift: int = VSHIFT) -> dict:
    """syncnet_python's summary of the mean distance per offset: LSE-D, LSE-C and the offset (audio leads if > 0)."""
    minval, minidx = torch.min(mdist, 0)
    return dict(lse_d=float(minval), lse_c=float(torch.median(mdist) - minval), offset=int(vshift - minidx),
                distances=mdist.tolist())


def min_frames(vshift: int = VSHIFT) -> int:
    """Frames a clip needs: at least 5 windows at every offset (5 + vshift + 4)."""
    return WINDOW + vshift + 4


def _frames_tensor(video_frames) -> torch.Tensor:
    """uint8 [T, H, W, 3] (array or tensor) or float [T, 3, H, W] in [0, 1] -> float [T, 3, S, S] (centre square)."""
    x = torch.as_tensor(np.asarray(video_frames)) if not torch.is_tensor(video_frames) else video_frames
    if x.dtype == torch.uint8:
        x = x.permute(0, 3, 1, 2).float() / 255
    if x.dim() != 4 or x.shape[1] != 3:
        raise StyletalkerError(f"video frames must be uint8 [T, H, W, 3] or float [T, 3, H, W], got "
                               f"{tuple(x.shape)}")
    H, W = x.shape[-2:]
    s = min(H, W)                                  # a non-square video: its centre square (a face crop is square)
    return x[..., (H - s) // 2:(H - s) // 2 + s, (W - s) // 2:(W - s) // 2 + s]


def clip_mel(audio, n_frames: int, fps: float = 25, sample_rate: int = 16000) -> torch.Tensor:
    """The mel window of every video frame [T, 80, 20] from audio [N] (trimmed or zero-padded to the video)."""
    cfg = MelConfig(sample_rate=sample_rate)
    need = int(round(n_frames * sample_rate / fps))
    x = np.zeros(max(need, cfg.n_fft), np.float32)
    audio = np.asarray(audio, np.float32).reshape(-1)
    x[:min(need, len(audio))] = audio[:need]
    return mel_frames_for_video(log_mel(x, cfg), n_frames, fps, 0.2, cfg)


@torch.no_grad()
def embed_clip(net: SyncEvaluator, frames: torch.Tensor, mel: torch.Tensor, chunk: int = 256):
    """frames float [T, 3, S, S] in [0, 1], raw mel [T, 80, 20] -> (v [T-4, D], a [T-4, D])."""
    T = len(frames)
    crops = torch.cat([mouth_crop(frames[i:i + chunk], net.crop) for i in range(0, T, chunk)])    # [T, h, w]
    v = torch.cat([net.embed_video(crops[None, i:i + chunk + WINDOW - 1])[0]
                   for i in range(0, T - WINDOW + 1, chunk)])
    a = net.embed_audio(normalise_mel(audio_windows(mel[None])[0]))
    return v, a


def lse(video_frames, audio, net: SyncEvaluator | None = None, fps: float = 25, sample_rate: int = 16000,
        vshift: int = VSHIFT) -> dict:
    """LSE-D, LSE-C and the AV offset of a talking-face clip (syncnet_python protocol, see the module docstring).

    video_frames: uint8 [T, H, W, 3] or float [T, 3, H, W] in [0, 1], 25 fps face crops (any size: the mouth crop is
    resized to the evaluator's); audio: float [N] mono at ``sample_rate``. Returns dict(lse_d, lse_c, offset,
    distances [2 vshift + 1]).
    """
    net = net if net is not None else load_evaluator()
    frames = _frames_tensor(video_frames)
    T = len(frames)
    if T < min_frames(vshift):
        raise StyletalkerError(f"the clip has {T} frames; scoring offsets up to +-{vshift} needs at least "
                               f"{min_frames(vshift)} ({min_frames(vshift) / fps:.2f} s at {fps:g} fps)")
    v, a = embed_clip(net, frames, clip_mel(audio, T, fps, sample_rate))
    return scores_from_distances(offset_distances(v, a, vshift), vshift)


_SHIPPED: dict = {}


def load_evaluator(path=None, expected: EvaluatorConfig | None = None, device="cpu") -> SyncEvaluator:
    """Load a sync evaluator saved by ``styletalker train evaluator`` (default: the shipped 64 px one), eval mode."""
    key = (str(path), str(expected), str(device))
    if path is None and key in _SHIPPED:
        return _SHIPPED[key]
    net = load_model(pathlib.Path(path) if path else SHIPPED_EVALUATOR, SyncEvaluator, EvaluatorConfig,
                     kind="sync_evaluator", expected=expected, device=device).requires_grad_(False)
    if path is None:
        _SHIPPED[key] = net
    return net
