"""Detail fine-tuning of G_I's last layers together with Enc_I, on real frames, with a loss weighted by the face.

Why: G_I trained as an autoencoder's decoder (``autoencoder.py``) and Enc_I trained against it reconstruct heads, hair
and backgrounds well (about 24 dB) but draw eyes, brows and lips as soft smudges: an L1 loss over the whole image barely
notices a 3-pixel eye. Here the synthesis layers (all of them, or the last ``layers``) and the encoder are trained
together to reconstruct real frames, each pixel weighted by how close it is to the inner face landmarks (brows, eyes,
nose, lips: points 17-67), so the small features count as much as the background. The mapping network, the Fourier input
and the magnitude statistics stay frozen, so W's distribution and w_avg are kept. Afterwards the generator is frozen
again and the encoder is the one trained with it. A global form of pivotal tuning (Roich et al. 2021), fitted to the
whole training split; our construction.
Measured on the CPU from the GPU-trained reconstruction pair (docs/benchmarks.md, session 5): no visible change in
500-840 steps; the limit is the generator's input band (benchmarks/generator_capacity.py), not the loss. The stage is
kept as a tool for a generator that can draw the features.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn as nn

from ..data.frames import draw_frames, to_float
from ..training import GeneratorState
from .autoencoder import face_weights, reconstruction_terms
from .generator import Generator

@dataclasses.dataclass(frozen=True)
class DetailConfig:
    """How the detail fine-tuning runs."""
    layers: int = 0                 # trainable synthesis layers counted from the end, ToRGB included; 0 = all
                                    # (3 alone, measured: no change in 840 steps: the early layers must learn
                                    # where the eyes and lips are)
    batch: int = 16                 # frames per step
    lr_g: float = 0.001             # Adam learning rate of G's layers (equalised parameters)
    lr_e: float = 0.0003            # Adam learning rate of the encoder
    face_weight: float = 4.0        # extra weight at the inner-face landmarks (1 elsewhere)
    sigma_px: float = 2.0           # spread of each landmark's weight at 64 px
    grad_weight: float = 1.0        # weight of the image-gradient L1
    steps: int = 4000
    closed_eyes: float = 0.0        # share of each batch drawn from closed-eye frames (data.frames.draw_frames)
    seed: int = 0


DETAIL_PRESETS = {
    "quick": DetailConfig(batch=4, steps=20),
    "default": DetailConfig(),
    "full": DetailConfig(batch=32, steps=20000),
}


class DetailStage:
    """One step: encode a batch of real frames (Enc_I, trainable), render with G (its last layers trainable, the
    rest frozen and run without a graph), weighted L1 + gradient L1 against the frames."""

    def __init__(self, G: Generator, E: nn.Module, bank: torch.Tensor, landmarks: torch.Tensor, cfg: DetailConfig,
                 device="cpu", closed: torch.Tensor | None = None):
        self.G, self.E, self.cfg, self.device = G.to(device).eval(), E.to(device).train(), cfg, device
        self.closed = closed                   # closed-eye frame indices, over-sampled by cfg.closed_eyes
        self.bank, self.landmarks, self.batch = bank, landmarks, cfg.batch
        layers = G.synthesis.layers
        self.split = 0 if cfg.layers == 0 else len(layers) - cfg.layers
        G.requires_grad_(False)
        trainable = [p for layer in layers[self.split:] for p in layer.parameters()]
        for p in trainable:
            p.requires_grad_(True)
        self.opt = torch.optim.Adam([dict(params=trainable, lr=cfg.lr_g), dict(params=E.parameters(), lr=cfg.lr_e)],
                                    betas=(0.9, 0.99))
        self.gen = torch.Generator().manual_seed(cfg.seed)

    def state(self) -> dict:
        return dict(G=self.G, E=self.E, opt=self.opt, rng=GeneratorState(self.gen))

    def render(self, ws: torch.Tensor) -> torch.Tensor:
        """G.synthesis(ws) with the frozen layers run without a graph."""
        return self.G.synthesis(ws, frozen=self.split)

    def step(self, i: int) -> dict[str, float]:
        cfg = self.cfg
        idx = draw_frames(len(self.bank), cfg.batch, self.gen, self.closed, cfg.closed_eyes)
        x = to_float(self.bank[idx]).to(self.device)
        w = face_weights(self.landmarks[idx].to(self.device), x.shape[-1], cfg.face_weight, cfg.sigma_px)
        y = self.render(self.E(x))
        l1, lg = reconstruction_terms(y, x, w)
        loss = l1 + cfg.grad_weight * lg
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return dict(l1=l1.item(), grad_l1=lg.item())


def train_detail(G: Generator, E: nn.Module, bank: torch.Tensor, landmarks: torch.Tensor, out, cfg: DetailConfig,
                 time_limit_s: float | None = None, progress: bool = True, device="cpu",
                 on_checkpoint=None, closed: torch.Tensor | None = None) -> tuple[DetailStage, dict]:
    """Fine-tune (resuming from OUT/checkpoint.pt); returns the stage and the loop's summary. closed: the closed-eye
    frames' indices (needed when cfg.closed_eyes > 0).

    on_checkpoint(stage, step, seconds): called after every checkpoint (to export the models so far)."""
    from ..training import train
    torch.manual_seed(cfg.seed)
    stage = DetailStage(G, E, bank, landmarks, cfg, device, closed=closed)
    hook = None if on_checkpoint is None else (lambda step, sec: on_checkpoint(stage, step, sec))
    summary = train(stage, cfg.steps, out, log_every=20, ckpt_every=50, time_limit_s=time_limit_s,
                    progress=progress, desc="G_I detail", on_checkpoint=hook)
    stage.E.eval()
    stage.G.requires_grad_(False)
    return stage, summary
