"""Edit directions in W found by PCA of sampled codes (GANSpace, Harkonen et al. 2020).

The principal components of many w = mapping(z) are often meaningful edits (pose, mouth, eyes, colours);
``edit`` moves a code along them in units of each component's standard deviation.
"""
from __future__ import annotations

import math

import torch

from .generator import Generator


@torch.no_grad()
def pca_directions(G: Generator, n: int = 5000, seed: int = 0) -> dict[str, torch.Tensor]:
    """PCA of n codes w [n, w_dim]: mean [w_dim], sigma [w_dim] (standard deviation along each component, largest
    first), components [w_dim, w_dim] (unit rows), share [w_dim] (fraction of variance)."""
    w = G.mapping(torch.randn(n, G.cfg.z_dim, generator=torch.Generator().manual_seed(seed)))[:, 0]
    mean = w.mean(0)
    _, sv, v = torch.linalg.svd(w - mean, full_matrices=False)
    sigma = sv / math.sqrt(n - 1)
    return dict(mean=mean, sigma=sigma, components=v, share=sigma ** 2 / (sigma ** 2).sum())


def edit(ws: torch.Tensor, directions: dict[str, torch.Tensor], coeffs) -> torch.Tensor:
    """W+ codes [N, num_ws, w_dim] moved by coeffs[k] standard deviations along component k (all layers)."""
    delta = sum(float(a) * directions["sigma"][k] * directions["components"][k] for k, a in enumerate(coeffs))
    return ws + delta
