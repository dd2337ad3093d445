"""Enc_I, the GAN-inversion encoder: an image -> W+ codes of the frozen generator G_I (paper: "Enc_I").

Our reconstruction of e4e (Tov et al. 2021, "Designing an encoder for StyleGAN image manipulation"), slimmed for a CPU:

    image [N, 3, R, R] --conv pyramid--> features at R/4, R/8, R/16 (a feature pyramid: coarse maps are upsampled
    and added to finer ones) --one head per W+ code--> w_0 and offsets delta_1 .. delta_{K-1}

    W+ = w_avg + [w_0, w_0 + delta_1, ..., w_0 + delta_{K-1}]

The first code comes from the coarsest map (pose and layout), later codes from finer maps, thirds of the codes per
level, as e4e splits StyleGAN's coarse, middle and fine styles. ``n_active`` (a saved buffer) says how many offsets
are unlocked: training starts with W (every code equal to w_0) and unlocks one offset at a time (e4e's progressive
training); the delta regulariser (see train.py) keeps the offsets small, so codes stay near W where edits behave.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn
import torch.nn.functional as F

from ..config import profile


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """Sizes of Enc_I; must match the generator it inverts (resolution, num_ws, w_dim)."""
    resolution: int = 64          # input side in pixels (the generator's)
    num_ws: int = 8               # W+ codes (generator.num_ws)
    w_dim: int = 128              # width of a code
    widths: tuple = (24, 48, 96, 128)  # channels at R/2, R/4, R/8, R/16 (the pyramid's levels are the last three)
    head_width: int = 64          # channels of a head's 1x1 conv before pooling
    head_pool: int = 4            # a head pools its map to head_pool x head_pool before the linear layer


ENCODER_PRESETS = {
    "quick": dict(resolution=32, num_ws=7, w_dim=64, widths=(16, 32, 64, 64), head_width=32, head_pool=2),
    "default": dict(),
    "full": dict(resolution=128, num_ws=12, w_dim=256, widths=(32, 64, 128, 256), head_width=96),
}


def encoder_config(name: str | None = None, **overrides) -> EncoderConfig:
    """The encoder preset for a profile (matching that profile's generator preset), with overrides."""
    cfg = EncoderConfig(**ENCODER_PRESETS[profile(name)])
    if "widths" in overrides:
        overrides["widths"] = tuple(overrides["widths"])
    return dataclasses.replace(cfg, **overrides)


def for_generator(G, **overrides) -> EncoderConfig:
    """An encoder config that fits generator G (resolution, num_ws, w_dim), other sizes from the matching preset."""
    by_res = {EncoderConfig(**v).resolution: n for n, v in ENCODER_PRESETS.items()}
    name = by_res.get(G.cfg.resolution, "default")
    return encoder_config(name, resolution=G.cfg.resolution, num_ws=G.num_ws, w_dim=G.cfg.w_dim, **overrides)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2))


def code_levels(num_ws: int) -> list[int]:
    """Pyramid level (0 coarse, 1 middle, 2 fine) of each W+ code: thirds, the first code always coarse."""
    return [min(2, 3 * i // num_ws) for i in range(num_ws)]


class Encoder(nn.Module):
    """images [N, 3, R, R] in [-1, 1] -> W+ [N, num_ws, w_dim] of G_I (plus w_avg, given at construction)."""

    def __init__(self, cfg: EncoderConfig, w_avg: torch.Tensor | None = None):
        super().__init__()
        self.cfg = cfg
        c1, c2, c3, c4 = cfg.widths
        self.stem = nn.Sequential(_conv(3, c1, 2))                                     # R/2
        self.down2 = nn.Sequential(_conv(c1, c2, 2), _conv(c2, c2))                    # R/4  (fine)
        self.down3 = nn.Sequential(_conv(c2, c3, 2), _conv(c3, c3))                    # R/8  (middle)
        self.down4 = nn.Sequential(_conv(c3, c4, 2), _conv(c4, c4))                    # R/16 (coarse)
        self.lat3 = nn.Conv2d(c3, c4, 1)                                               # pyramid laterals
        self.lat2 = nn.Conv2d(c2, c4, 1)
        self.levels = code_levels(cfg.num_ws)
        self.heads = nn.ModuleList(nn.Sequential(nn.Conv2d(c4, cfg.head_width, 1), nn.LeakyReLU(0.2),
                                                 nn.AdaptiveAvgPool2d(cfg.head_pool), nn.Flatten(),
                                                 nn.Linear(cfg.head_width * cfg.head_pool ** 2, cfg.w_dim))
                                   for _ in range(cfg.num_ws))
        for h in self.heads[1:]:                       # offsets start at zero: the untrained encoder outputs W
            nn.init.zeros_(h[-1].weight)
            nn.init.zeros_(h[-1].bias)
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim) if w_avg is None else w_avg.detach().clone())
        self.register_buffer("n_active", torch.tensor(cfg.num_ws - 1))      # unlocked offsets (all, once trained)

    def pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[coarse R/16, middle R/8, fine R/4] feature maps, each with widths[-1] channels."""
        assert x.ndim == 4 and x.shape[1:] == (3, self.cfg.resolution, self.cfg.resolution), x.shape  # [N, 3, R, R]
        f2 = self.down2(self.stem(x))
        f3 = self.down3(f2)
        p4 = self.down4(f3)
        p3 = self.lat3(f3) + F.interpolate(p4, scale_factor=2, mode="nearest")
        p2 = self.lat2(f2) + F.interpolate(p3, scale_factor=2, mode="nearest")
        return [p4, p3, p2]

    def base_and_offsets(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """w_0 [N, w_dim] (relative to w_avg) and the offsets [N, num_ws - 1, w_dim], locked ones zeroed."""
        maps = self.pyramid(x)
        codes = [head(maps[lvl]) for head, lvl in zip(self.heads, self.levels)]
        w0, delta = codes[0], torch.stack(codes[1:], 1)
        mask = (torch.arange(self.cfg.num_ws - 1, device=x.device) < self.n_active).to(delta.dtype)
        return w0, delta * mask[None, :, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w0, delta = self.base_and_offsets(x)
        ws = self.w_avg + w0[:, None] + torch.cat([torch.zeros_like(delta[:, :1]), delta], 1)
        return ws                                                                       # [N, num_ws, w_dim]
