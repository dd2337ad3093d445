"""D_sync, StyleTalker's contrastive lip-sync discriminator (paper Fig. 3, "lip-sync discriminator").

Two towers map a 0.2 s log-mel window and the mouth crops of the 5 video frames it spans to L2-normalised
embeddings; training maximises InfoNCE (van den Oord et al. 2018) with a learnable temperature, the negatives being
windows of the same clip shifted by a few frames and windows of the other clips in the batch. Frozen afterwards, its
contrastive score of generated windows against their audio is the sync loss of the main model (:func:`sync_loss`).

Our reconstruction: the paper gives no architecture. The visual tower is SyncNet's (5 grey frames stacked as
channels, 3x3 convolutions); the audio tower convolves over time with the 80 mel bands as channels.
"""
from __future__ import annotations

import dataclasses
import math
import pathlib

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..checkpoint import load_model
from ..config import profile
from ..paths import WEIGHTS_DIR
from .data import WINDOW, audio_windows, mouth_crop, normalise_mel, video_windows

SHIPPED_DSYNC = WEIGHTS_DIR / "dsync_default"


@dataclasses.dataclass(frozen=True)
class SyncConfig:
    """Size of D_sync."""
    resolution: int = 64        # face-crop side of the training data (frames of another size are resized)
    crop_h: int = 32            # mouth crop height (lower half of the face)
    crop_w: int = 48            # mouth crop width (the middle 3/4 of the face)
    width: int = 16             # channels of the first visual convolution (x2, x4, x4 in the next ones)
    audio_width: int = 128      # channels of the audio tower
    embed_dim: int = 128        # embedding size of both towers
    n_mels: int = 80            # mel bands
    mel_window: int = 20        # mel frames per window (0.2 s)
    tau_init: float = 0.07      # initial InfoNCE temperature (learned; CLIP's initial value)
    seed: int = 0               # initialisation seed


SYNC_PRESETS = {
    "quick": SyncConfig(resolution=32, crop_h=16, crop_w=24, width=8, audio_width=64, embed_dim=64),
    "default": SyncConfig(),
    "full": SyncConfig(resolution=128, crop_h=48, crop_w=72, width=32, audio_width=192, embed_dim=256),
}


def sync_config(name: str | None = None, **overrides) -> SyncConfig:
    """The D_sync preset of a profile, with optional field overrides."""
    return dataclasses.replace(SYNC_PRESETS[profile(name)], **overrides)


def _conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True))


class DSync(nn.Module):
    """D_sync: ``embed_video`` [B, 5, h, w] and ``embed_audio`` [B, 80, 20] -> unit vectors [B, D]."""

    def __init__(self, cfg: SyncConfig):
        super().__init__()
        self.cfg = cfg
        with torch.random.fork_rng(devices=[]):      # the initialisation is part of the config; global RNG untouched
            torch.manual_seed(cfg.seed)
            self._build(cfg)

    def _build(self, cfg: SyncConfig) -> None:
        w = cfg.width
        self.visual = nn.Sequential(                 # [B, 5, h, w] -> [B, 4w, h/16, w/16]
            _conv(WINDOW, w), nn.MaxPool2d(2),
            _conv(w, 2 * w), nn.MaxPool2d(2),
            _conv(2 * w, 4 * w), nn.MaxPool2d(2),
            _conv(4 * w, 4 * w), nn.MaxPool2d(2))
        self.visual_fc = nn.Linear(4 * w * (cfg.crop_h // 16) * (cfg.crop_w // 16), cfg.embed_dim)
        a = cfg.audio_width
        self.audio = nn.Sequential(                  # [B, 80, 20] -> [B, a, 5]
            nn.Conv1d(cfg.n_mels, a, 3, padding=1, bias=False), nn.BatchNorm1d(a), nn.ReLU(True),
            nn.Conv1d(a, a, 3, stride=2, padding=1, bias=False), nn.BatchNorm1d(a), nn.ReLU(True),
            nn.Conv1d(a, a, 3, stride=2, padding=1, bias=False), nn.BatchNorm1d(a), nn.ReLU(True))
        self.audio_fc = nn.Linear(a * math.ceil(cfg.mel_window / 4), cfg.embed_dim)
        # log(1 / tau): the logits are exp(logit_scale) * cos(v, a)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / cfg.tau_init)))

    @property
    def crop(self) -> tuple[int, int]:
        return self.cfg.crop_h, self.cfg.crop_w

    def embed_video(self, windows: torch.Tensor) -> torch.Tensor:
        """mouth-crop windows [B, 5, h, w] in [-1, 1] -> unit embeddings [B, D]."""
        assert windows.shape[1:] == (WINDOW, *self.crop), windows.shape
        return F.normalize(self.visual_fc(self.visual(windows).flatten(1)), dim=-1)

    def embed_audio(self, mel: torch.Tensor) -> torch.Tensor:
        """normalised mel windows [B, 80, 20] -> unit embeddings [B, D]."""
        assert mel.shape[1:] == (self.cfg.n_mels, self.cfg.mel_window), mel.shape
        return F.normalize(self.audio_fc(self.audio(mel).flatten(1)), dim=-1)

    def scale(self) -> torch.Tensor:
        """1 / tau, clamped to at most 100 (CLIP) so the logits cannot blow up."""
        return self.logit_scale.exp().clamp(max=100.0)

    def similarity(self, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Logits [Bv, Ba] = cos(v_i, a_j) / tau for unit embeddings v [Bv, D], a [Ba, D]."""
        return self.scale() * v @ a.T


def info_nce(logits: torch.Tensor, symmetric: bool = True) -> torch.Tensor:
    """InfoNCE for a square logit matrix [B, B] whose diagonal holds the positive pairs.

    L = -1/B sum_i log( exp(s_ii) / sum_j exp(s_ij) ), averaged with the same loss over columns (audio -> video)
    when ``symmetric``.
    """
    assert logits.dim() == 2 and logits.shape[0] == logits.shape[1], logits.shape
    target = torch.arange(len(logits), device=logits.device)
    loss = F.cross_entropy(logits, target)
    return (loss + F.cross_entropy(logits.T, target)) / 2 if symmetric else loss


def sync_windows(net: DSync, frames: torch.Tensor, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings of every 5-frame window of a batch of sequences and of its audio.

    frames [B, T, 3, H, W] in [0, 1] (any H = W; resized to the crop), mel [B, T, 80, 20] raw log-mel (one window
    per frame, ``audio.mel_frames_for_video``) -> (v [B, T-4, D], a [B, T-4, D]).
    """
    assert frames.dim() == 5 and mel.dim() == 4 and frames.shape[:2] == mel.shape[:2], (frames.shape, mel.shape)
    B, T = frames.shape[:2]
    crops = mouth_crop(frames, net.crop)                                  # [B, T, h, w]
    v = net.embed_video(video_windows(crops).flatten(0, 1))               # [B*(T-4), D]
    a = net.embed_audio(normalise_mel(audio_windows(mel)).flatten(0, 1))
    return v.reshape(B, T - WINDOW + 1, -1), a.reshape(B, T - WINDOW + 1, -1)


def sync_loss(frames: torch.Tensor, mel: torch.Tensor, net: DSync | None = None) -> torch.Tensor:
    """The lip-sync loss of generated frames: InfoNCE of each generated 5-frame window against the audio windows of
    the batch (its own is the positive; the other positions of its sequence and the other sequences are the
    negatives), under the frozen D_sync. Differentiable with respect to ``frames``.

    frames [B, T, 3, H, W] in [0, 1], mel [B, T, 80, 20] raw log-mel; B * (T - 4) >= 2 windows. Returns a scalar.
    """
    net = net if net is not None else load_dsync()
    v, a = sync_windows(net, frames, mel)
    v, a = v.flatten(0, 1), a.flatten(0, 1)
    if len(v) < 2:
        raise ValueError("sync_loss needs at least 2 windows (B * (T - 4) >= 2) to have a negative")
    return info_nce(net.similarity(v, a), symmetric=False)


def sync_score(net: DSync, frames: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
    """Mean cosine of each sequence's windows with their own audio: [B, T, 3, H, W], [B, T, 80, 20] -> [B]."""
    v, a = sync_windows(net, frames, mel)
    return (v * a).sum(-1).mean(1)


_SHIPPED: dict = {}


def load_dsync(path=None, expected: SyncConfig | None = None, device="cpu") -> DSync:
    """Load a D_sync saved by ``styletalker train sync`` (default: the shipped 64 px one), frozen, in eval mode."""
    key = (str(path), str(expected), str(device))
    if path is None and key in _SHIPPED:                  # the loss calls this every step: load the file once
        return _SHIPPED[key]
    net = load_model(pathlib.Path(path) if path else SHIPPED_DSYNC, DSync, SyncConfig, kind="dsync",
                     expected=expected, device=device).requires_grad_(False)
    if path is None:
        _SHIPPED[key] = net
    return net
