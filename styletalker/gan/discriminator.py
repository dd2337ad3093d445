"""The discriminator that trains G_I: a StyleGAN2-style residual network with minibatch standard deviation.

Equalised learning rate everywhere (weights ~ N(0, 1), scaled by 1/sqrt(fan_in) at run time), binomial blur before
every downsampling. Follows StyleGAN2's ``resnet`` discriminator (Karras et al. 2020) at a slim width; our code.
"""
from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import profile
from .filters import blur_kernel, upfirdn2d


@dataclasses.dataclass(frozen=True)
class DiscriminatorConfig:
    """Sizes of the discriminator."""
    resolution: int = 64            # input side in pixels
    channel_base: int = 4096        # channels at resolution r: min(channel_base / r, channel_max)
    channel_max: int = 256          # widest block
    mbstd_group: int = 4            # minibatch standard deviation group size
    img_channels: int = 3


DISCRIMINATOR_PRESETS = {
    "quick": DiscriminatorConfig(resolution=32, channel_base=1024, channel_max=128),
    "default": DiscriminatorConfig(),
    "full": DiscriminatorConfig(resolution=128, channel_base=8192, channel_max=256),
}


def discriminator_config(name: str | None = None, **overrides) -> DiscriminatorConfig:
    """The discriminator preset of a profile, with optional field overrides."""
    return dataclasses.replace(DISCRIMINATOR_PRESETS[profile(name)], **overrides)


class EqualConv2d(nn.Module):
    """Conv with equalised learning rate; ``down=2`` blurs then convolves with stride 2."""

    def __init__(self, cin: int, cout: int, k: int, bias: bool = True, activation: bool = True, down: int = 1):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.gain = 1 / math.sqrt(cin * k * k)
        self.activation, self.down, self.k = activation, down, k
        self.register_buffer("blur", blur_kernel(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.gain
        if self.down > 1:
            if self.k == 1:                                          # skip path: blur-downsample, then 1x1
                x = upfirdn2d(x, self.blur, down=2, padding=(1, 1, 1, 1))
                x = F.conv2d(x, w, self.bias)
            else:                                                    # blur, then strided 3x3
                x = upfirdn2d(x, self.blur, padding=(1, 1, 1, 1))
                x = F.conv2d(x, w, self.bias, stride=2, padding=self.k // 2)
        else:
            x = F.conv2d(x, w, self.bias, padding=self.k // 2)
        return F.leaky_relu(x, 0.2) * math.sqrt(2) if self.activation else x


class DBlock(nn.Module):
    """Residual block: two 3x3 convs (the second downsamples) plus a 1x1 downsampling skip, scaled by 1/sqrt(2)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv0 = EqualConv2d(cin, cin, 3)
        self.conv1 = EqualConv2d(cin, cout, 3, down=2)
        self.skip = EqualConv2d(cin, cout, 1, bias=False, activation=False, down=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.skip(x) + self.conv1(self.conv0(x))) * math.sqrt(0.5)


def minibatch_stddev(x: torch.Tensor, group: int) -> torch.Tensor:
    """Append one feature map: the standard deviation across a group of samples, averaged (StyleGAN2).

    Lets D see the variety of a batch, which penalises a generator that collapses to one mode.
    """
    n, c, h, w = x.shape
    g = min(group, n)
    while n % g:
        g -= 1
    y = x.reshape(g, -1, c, h, w)
    y = (y.var(0, unbiased=False) + 1e-8).sqrt().mean([1, 2, 3])      # [n / g]
    y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y], 1)


class Discriminator(nn.Module):
    """images [N, 3, R, R] in [-1, 1] -> realness logits [N]."""

    def __init__(self, cfg: DiscriminatorConfig):
        super().__init__()
        self.cfg = cfg
        ch = lambda r: int(min(cfg.channel_base // r, cfg.channel_max))   # noqa: E731
        r = cfg.resolution
        self.from_rgb = EqualConv2d(cfg.img_channels, ch(r), 1)
        blocks = []
        while r > 4:
            blocks.append(DBlock(ch(r), ch(r // 2)))
            r //= 2
        self.blocks = nn.Sequential(*blocks)
        c4 = ch(4)
        self.conv = EqualConv2d(c4 + 1, c4, 3)
        self.fc = nn.Linear(c4 * 16, c4)
        self.out = nn.Linear(c4, 1)
        for lin in (self.fc, self.out):                              # equalised: unit init, scaled at run time
            nn.init.normal_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        assert img.shape[1:] == (self.cfg.img_channels, self.cfg.resolution, self.cfg.resolution), img.shape
        x = self.blocks(self.from_rgb(img))
        x = self.conv(minibatch_stddev(x, self.cfg.mbstd_group))
        x = x.flatten(1)
        x = F.leaky_relu(F.linear(x, self.fc.weight / math.sqrt(x.shape[1]), self.fc.bias), 0.2) * math.sqrt(2)
        return F.linear(x, self.out.weight / math.sqrt(x.shape[1]), self.out.bias).squeeze(1)
