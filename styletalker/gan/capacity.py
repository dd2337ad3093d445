"""Can a generator architecture draw the world's small features at all? Overfit a few frames with everything free.

Every synthesis weight and one W+ code per frame are trained (Adam, L1) to reproduce a handful of real frames, from
scratch, beside a plain convolutional decoder given the same job (a free 128 x S/8 x S/8 input per frame, three
upsample + two 3x3 conv blocks). A generator that cannot reproduce the eyes and lips of two frames in a few hundred
steps will not learn them from a whole dataset in a GPU session either; `benchmarks/generator_capacity.py` runs this
on the CPU in minutes (docs/benchmarks.md: the default G_I's narrow Fourier input band was the limit).
"""
from __future__ import annotations

import time

import torch
import torch.nn as nn

from ..imagemetrics import psnr
from .generator import Generator


def plain_decoder(resolution: int = 64, width: int = 128) -> tuple[nn.Module, torch.Size]:
    """A plain convolutional decoder and the shape of its per-frame input [width, R/8, R/8]."""
    def block(i, o):
        return [nn.Upsample(scale_factor=2), nn.Conv2d(i, o, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(o, o, 3, 1, 1),
                nn.LeakyReLU(0.2)]
    net = nn.Sequential(*block(width, width), *block(width, width // 2), *block(width // 2, width // 4),
                        nn.Conv2d(width // 4, 3, 1))
    return net, torch.Size([width, resolution // 8, resolution // 8])


def overfit(render, groups, x: torch.Tensor, steps: int, lrs, every: int = 100) -> tuple[list[dict], torch.Tensor]:
    """Adam on the parameter groups (each with its learning rate) so that render() matches x [N, 3, R, R] in L1.

    Returns the PSNR curve (a row every ``every`` steps: step, psnr, seconds) and the last rendering."""
    opt = torch.optim.Adam([dict(params=list(g), lr=r) for g, r in zip(groups, lrs)], betas=(0.9, 0.99))
    curve, t0 = [], time.time()
    for i in range(steps + 1):
        y = render()
        if i % every == 0 or i == steps:
            curve.append(dict(step=i, psnr=round(psnr(y.detach(), x).mean().item(), 2),
                              seconds=round(time.time() - t0, 1)))
        if i < steps:
            loss = (y - x).abs().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return curve, y.detach()


def overfit_generator(G: Generator, x: torch.Tensor, steps: int, lr: float = 0.002, code_lr: float = 0.01,
                      seed: int | None = 0, every: int = 100) -> tuple[list[dict], torch.Tensor]:
    """Overfit G.synthesis and one free W+ code per frame (started from mapped random z) to the frames x.

    seed: for the codes' z (None: continue the global random stream, e.g. right after building G)."""
    if seed is not None:
        torch.manual_seed(seed)
    G.train()
    ws = G.mapping(torch.randn(len(x), G.cfg.z_dim)).detach().clone().requires_grad_(True)
    return overfit(lambda: G.synthesis(ws), [G.synthesis.parameters(), [ws]], x, steps, [lr, code_lr], every)


def overfit_plain(x: torch.Tensor, steps: int, lr: float = 0.002, code_lr: float = 0.01, seed: int = 0,
                  every: int = 100) -> tuple[list[dict], torch.Tensor]:
    """The same with the plain decoder and a free input per frame (the reference)."""
    torch.manual_seed(seed)
    net, shape = plain_decoder(x.shape[-1])
    z = nn.Parameter(torch.randn(len(x), *shape))
    return overfit(lambda: net(z), [net.parameters(), [z]], x, steps, [lr, code_lr], every)
