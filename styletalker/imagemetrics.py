"""Image similarity for reconstructions: PSNR and SSIM (differentiable, pure torch), used as metrics and losses.

SSIM follows Wang et al. (2004) with the usual constants: an 11x11 Gaussian window (sigma 1.5), K1 = 0.01,
K2 = 0.03, computed per channel on images scaled to [0, 1] and averaged. Borders are not padded ('valid' windows),
as in the reference implementation and skimage's ``structural_similarity(..., gaussian_weights=True)``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """PSNR in dB per image: a, b [N, C, H, W] (default range [-1, 1]) -> [N]."""
    mse = (a.float() - b.float()).pow(2).flatten(1).mean(1).clamp_min(1e-20)
    return 20 * math.log10(data_range) - 10 * torch.log10(mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5, device=None) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0, size: int = 11, sigma: float = 1.5
         ) -> torch.Tensor:
    """SSIM per image: a, b [N, C, H, W] (default range [-1, 1]) -> [N], 1 for identical images.

    Differentiable; the window is separable, so each local mean is two depthwise 1-D convolutions."""
    assert a.shape == b.shape and a.ndim == 4, (a.shape, b.shape)                 # [N, C, H, W]
    a, b = a.float() / data_range, b.float() / data_range
    c = a.shape[1]
    g = _gaussian_window(size, sigma, a.device)
    wx = g.view(1, 1, 1, size).repeat(c, 1, 1, 1)
    wy = g.view(1, 1, size, 1).repeat(c, 1, 1, 1)

    def blur(t):
        return F.conv2d(F.conv2d(t, wx, groups=c), wy, groups=c)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1)
