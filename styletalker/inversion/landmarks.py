"""A differentiable 68-point landmark regressor, the inversion's feature loss (our substitute for a perceptual network).

e4e uses LPIPS (VGG features) and an identity network; neither can be downloaded here. The synthetic world knows
every frame's 68 landmarks exactly, so a small CNN learns to regress them, and the encoder is then asked for
reconstructions whose landmarks (and the regressor's internal features) match the original's. This puts weight on
what matters for a talking head, the shape of eyes, brows and mouth, which a pixel loss averages away.

Coordinates are normalised to [-1, 1] over the frame (``to_unit`` / ``from_unit``) so one model fits every size.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..config import profile
from ..training import GeneratorState


@dataclasses.dataclass(frozen=True)
class LandmarkConfig:
    """Sizes of the landmark regressor."""
    resolution: int = 64              # input side in pixels
    widths: tuple = (32, 64, 96, 128)  # channels of the stride-2 stages (R/2 .. R/16)
    n_points: int = 68                # dlib's 68-point layout


LANDMARK_PRESETS = {"quick": dict(resolution=32, widths=(16, 32, 64, 64)), "default": dict(),
                    "full": dict(resolution=128, widths=(32, 64, 96, 128, 160))}


def landmark_config(name: str | None = None, **overrides) -> LandmarkConfig:
    return dataclasses.replace(LandmarkConfig(**LANDMARK_PRESETS[profile(name)]), **overrides)


def to_unit(xy: torch.Tensor, resolution: int) -> torch.Tensor:
    """Pixel coordinates (pixel centres at 0.5 .. R - 0.5, as the world labels them) -> [-1, 1]."""
    return xy / resolution * 2 - 1


def from_unit(u: torch.Tensor, resolution: int) -> torch.Tensor:
    return (u + 1) / 2 * resolution


class LandmarkNet(nn.Module):
    """images [N, 3, R, R] in [-1, 1] -> landmarks [N, 68, 2] in [-1, 1]; ``features`` gives the internal maps."""

    def __init__(self, cfg: LandmarkConfig):
        super().__init__()
        self.cfg = cfg
        stages, c = [], 3
        for w in cfg.widths:
            stages.append(nn.Sequential(nn.Conv2d(c, w, 3, 2, 1), nn.LeakyReLU(0.2),
                                        nn.Conv2d(w, w, 3, 1, 1), nn.LeakyReLU(0.2)))
            c = w
        self.stages = nn.ModuleList(stages)
        side = cfg.resolution // 2 ** len(cfg.widths)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(c * side * side, 256), nn.LeakyReLU(0.2),
                                nn.Linear(256, cfg.n_points * 2))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        assert x.ndim == 4 and x.shape[-1] == self.cfg.resolution, x.shape              # [N, 3, R, R]
        out = []
        for s in self.stages:
            x = s(x)
            out.append(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x)[-1]).view(-1, self.cfg.n_points, 2)


def feature_loss(net: LandmarkNet, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the regressor's channel-normalised feature maps (an LPIPS-like distance)."""
    loss = 0.0
    for fa, fb in zip(net.features(a), net.features(b)):
        na = fa / (fa.pow(2).sum(1, keepdim=True).sqrt() + 1e-8)
        nb = fb / (fb.pow(2).sum(1, keepdim=True).sqrt() + 1e-8)
        loss = loss + (na - nb).pow(2).sum(1).mean()
    return loss / len(net.stages)


class LandmarkStage:
    """One step of supervised landmark regression on real frames (for :func:`styletalker.training.train`).

    bank uint8 [N, 3, R, R] and landmarks [N, 68, 2] in pixels. Augmentation: brightness/contrast jitter and a little
    Gaussian blur half of the time, so the net also reads the generator's softer images. (A rate of 2e-3 diverged
    after ~450 steps on the default data; 5e-4 leaves the mean-face plateau after ~300 steps and reaches ~2 px.)"""

    def __init__(self, net: LandmarkNet, bank: torch.Tensor, landmarks: torch.Tensor, batch: int = 64,
                 lr: float = 5e-4, seed: int = 0, device="cpu"):
        self.net, self.bank, self.batch, self.device = net.to(device).train(), bank, batch, device
        self.target = to_unit(landmarks, net.cfg.resolution)
        with torch.no_grad():                  # start from the mean face (a resumed run overwrites this)
            net.fc[-1].bias.copy_(self.target.mean(0).flatten())
        self.opt = torch.optim.Adam(net.parameters(), lr=lr)
        self.gen = torch.Generator().manual_seed(seed)

    def state(self) -> dict:
        return dict(net=self.net, opt=self.opt, rng=GeneratorState(self.gen))

    def step(self, i: int) -> dict[str, float]:
        from ..data.frames import to_float
        from ..gan.filters import gaussian_blur
        idx = torch.randint(len(self.bank), [self.batch], generator=self.gen)
        x = to_float(self.bank[idx]).to(self.device)
        gain = 1 + 0.2 * (torch.rand(len(x), 1, 1, 1, generator=self.gen) - 0.5)
        bias = 0.2 * (torch.rand(len(x), 1, 1, 1, generator=self.gen) - 0.5)
        x = x * gain.to(x) + bias.to(x)
        if torch.rand((), generator=self.gen) < 0.5:
            x = gaussian_blur(x, float(0.5 + torch.rand((), generator=self.gen)))
        pred = self.net(x)
        loss = (pred - self.target[idx].to(x)).pow(2).sum(-1).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        px = loss.detach().sqrt().item() * self.net.cfg.resolution / 2             # RMS error in pixels
        return dict(loss=loss.item(), rms_px=px)
