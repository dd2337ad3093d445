"""Training Enc_I against the frozen G_I (e4e-style), and the landmark regressor its feature loss needs.

One encoder step (``EncoderStage.step``), with x a batch of real frames and ws = Enc_I(x):

    L = l2 * |G(ws) - x|^2 + ssim * (1 - SSIM(G(ws), x))                     reconstruction
      + landmarks * |L(G(ws)) - lm(x)|^2 + features * d_L(G(ws), x)           the landmark regressor L (frozen)
      + code * |Enc_I(G(ws_s)) - ws_s|^2 / var(w)                             G samples, whose codes ws_s are known
      + delta * mean_i |ws_i - ws_0|                                          e4e's delta regulariser

lm(x) are the world's exact landmarks (for real clips without them, L(x) stands in). Offsets are unlocked one at a
time every ``unlock_every`` steps (e4e's progressive training). G_I and L never change.
"""
from __future__ import annotations

import dataclasses
import math

import torch

from ..config import profile
from ..data.frames import draw_frames, to_float
from ..imagemetrics import psnr, ssim
from ..training import GeneratorState, train
from .encoder import Encoder
from .landmarks import LandmarkNet, LandmarkStage, feature_loss, to_unit


@dataclasses.dataclass(frozen=True)
class EncoderTrainConfig:
    """Length and loss weights of encoder training (and of the landmark regressor trained first)."""
    steps: int = 3000            # encoder optimiser steps
    batch: int = 16              # real frames per step
    samples: int = 8             # G_I samples per step (code supervision)
    lr: float = 7e-4             # Adam learning rate of the encoder
    unlock_every: int = 200      # steps between unlocking W+ offsets (progressive training)
    l2: float = 1.0              # pixel MSE (images in [-1, 1])
    ssim: float = 0.5            # 1 - SSIM
    landmarks: float = 1.0       # squared landmark error in [-1, 1] units
    features: float = 0.1        # landmark-regressor feature distance
    code: float = 0.2            # code error on G samples, per dimension in units of w's spread
    delta: float = 0.002         # |w_i - w_0| regulariser
    psi_min: float = 0.5         # G samples drawn with truncation psi ~ U(psi_min, 1)
    closed_eyes: float = 0.0     # share of each batch of real frames drawn from closed-eye frames (draw_frames)
    landmark_steps: int = 1500   # landmark regressor steps
    landmark_batch: int = 64     # its batch
    seed: int = 0


ENCODER_TRAIN_PRESETS = {
    "quick": dict(steps=40, batch=8, samples=4, unlock_every=6, landmark_steps=150, landmark_batch=32),
    "default": dict(),
    "full": dict(steps=20000, batch=32, samples=16, unlock_every=1000, landmark_steps=5000),
}


def encoder_train_config(name: str | None = None, **overrides) -> EncoderTrainConfig:
    return dataclasses.replace(EncoderTrainConfig(**ENCODER_TRAIN_PRESETS[profile(name)]), **overrides)


def w_spread(G, n: int = 2048, seed: int = 0) -> torch.Tensor:
    """Per-dimension standard deviation of w over z ~ N(0, I): [w_dim] (the scale of the code loss)."""
    with torch.no_grad():
        return G.sample_ws(n, seed=seed)[:, 0].std(0).clamp_min(1e-4)


class EncoderStage:
    """One e4e step for :func:`styletalker.training.train`. bank uint8 [N, 3, R, R]; landmarks [N, 68, 2] pixels
    or None (then the regressor's reading of the real frame is the target)."""

    def __init__(self, E: Encoder, G, L: LandmarkNet, bank: torch.Tensor, landmarks: torch.Tensor | None,
                 cfg: EncoderTrainConfig, device="cpu", closed: torch.Tensor | None = None):
        self.E, self.G, self.L = E.to(device).train(), G.to(device).eval(), L.to(device).eval()
        G.requires_grad_(False)
        L.requires_grad_(False)
        self.bank, self.cfg, self.device, self.batch = bank, cfg, device, cfg.batch
        self.closed = closed                   # closed-eye frame indices, over-sampled by cfg.closed_eyes
        self.lm = None if landmarks is None else to_unit(landmarks, E.cfg.resolution)
        self.opt = torch.optim.Adam(E.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.w_std = w_spread(G).to(device)

    def state(self) -> dict:
        return dict(E=self.E, opt=self.opt, rng=GeneratorState(self.gen))

    def step(self, i: int) -> dict[str, float]:
        c, E, G = self.cfg, self.E, self.G
        E.n_active.fill_(min(E.cfg.num_ws - 1, i // max(c.unlock_every, 1)))
        idx = draw_frames(len(self.bank), c.batch, self.gen, self.closed, c.closed_eyes)
        x = to_float(self.bank[idx]).to(self.device)
        ws = E(x)                                                                   # [B, num_ws, w_dim]
        y = G.synthesis(ws)
        l2 = (y - x).pow(2).mean()
        l_ssim = 1 - ssim(y, x).mean()
        target = self.L(x) if self.lm is None else self.lm[idx].to(x)
        l_lm = (self.L(y) - target).pow(2).sum(-1).mean()
        l_feat = feature_loss(self.L, y, x)
        l_delta = (ws[:, 1:] - ws[:, :1]).norm(dim=-1).mean()
        terms = dict(l2=l2, ssim=l_ssim, landmarks=l_lm, features=l_feat, delta=l_delta)
        if c.samples:
            with torch.no_grad():
                z = torch.randn(c.samples, G.cfg.z_dim, generator=self.gen).to(self.device)
                psi = c.psi_min + (1 - c.psi_min) * torch.rand((), generator=self.gen).item()
                ws_s = G.mapping(z, psi)
                x_s = G.synthesis(ws_s).clamp(-1, 1)
            terms["code"] = ((E(x_s) - ws_s) / self.w_std).pow(2).mean()
        loss = sum(getattr(c, k) * v for k, v in terms.items())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        out = {k: v.item() for k, v in terms.items()}
        out["psnr"] = psnr(y.detach(), x).mean().item()
        out["active"] = float(E.n_active)
        return out


def train_landmarks(bank: torch.Tensor, landmarks: torch.Tensor, out, cfg: EncoderTrainConfig, lcfg,
                    time_limit_s: float | None = None, progress: bool = True, device="cpu"):
    """Train the landmark regressor (resumable in OUT). Returns (net in eval mode, summary)."""
    torch.manual_seed(cfg.seed)              # the initial weights: the same seed gives the same run
    net = LandmarkNet(lcfg)
    stage = LandmarkStage(net, bank, landmarks, batch=cfg.landmark_batch, seed=cfg.seed, device=device)
    summary = train(stage, cfg.landmark_steps, out, log_every=25, ckpt_every=250, time_limit_s=time_limit_s,
                    progress=progress, desc="landmark regressor")
    return net.eval(), summary


def landmark_rms_px(net: LandmarkNet, bank: torch.Tensor, landmarks: torch.Tensor, n: int = 512) -> float:
    """RMS landmark error in pixels of the regressor on the first n frames of a bank (e.g. a held-out split)."""
    idx = torch.linspace(0, len(bank) - 1, min(n, len(bank))).long()
    with torch.no_grad():
        pred = net(to_float(bank[idx]))
    err = (pred - to_unit(landmarks[idx], net.cfg.resolution)).pow(2).sum(-1).mean()
    return math.sqrt(err.item()) * net.cfg.resolution / 2


def train_encoder(E: Encoder, G, L: LandmarkNet, bank: torch.Tensor, landmarks: torch.Tensor | None, out,
                  cfg: EncoderTrainConfig, time_limit_s: float | None = None, progress: bool = True, device="cpu",
                  on_checkpoint=None, ckpt_every: int = 100, closed: torch.Tensor | None = None):
    """Train Enc_I against frozen G_I and L (resumable in OUT). Returns (stage, summary); E ends in eval mode
    with every offset unlocked."""
    stage = EncoderStage(E, G, L, bank, landmarks, cfg, device, closed=closed)
    summary = train(stage, cfg.steps, out, log_every=10, ckpt_every=ckpt_every, time_limit_s=time_limit_s,
                    progress=progress, desc="Enc_I", on_checkpoint=on_checkpoint)
    E.eval()
    return stage, summary
