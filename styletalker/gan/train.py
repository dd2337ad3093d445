"""Adversarial training of G_I on frames of the world: non-saturating logistic loss, lazy R1, EMA of G,
style mixing, and StyleGAN3's early blur of the discriminator's inputs.

The stabilisers are the ones StyleGAN needs (equalised learning rate and a 100x slower mapping network live in the
modules; here: R1 sized for the resolution, Adam with beta1 = 0, the EMA generator that is shipped). Losses are
small top-level functions so that tests and the notebook can call them directly.
"""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from ..config import profile
from ..data.frames import frame_bank, to_float
from ..errors import StyletalkerError
from ..training import GeneratorState
from .discriminator import Discriminator, DiscriminatorConfig
from .filters import gaussian_blur
from .generator import Generator, GeneratorConfig


@dataclasses.dataclass(frozen=True)
class GanTrainConfig:
    """How G_I is trained."""
    batch: int = 32                 # images per step (real and fake each)
    kimg: float = 400.0             # length of training in thousands of real images shown to D
    lr_g: float = 0.0025            # Adam learning rate of G (the mapping network gets 1/100 of it via lr_mul)
    lr_d: float = 0.002             # Adam learning rate of D
    r1_gamma: float = 0.5           # R1 weight; StyleGAN's heuristic 0.0002 R^2 / batch gives ~0.03 at 64 px,
                                    # we found a larger one steadier on the flat-shaded world
    r1_every: int = 16              # lazy R1: every n steps, scaled by n
    style_mixing: float = 0.5       # probability of mixing two w's across a random layer cut (decorrelates W+)
    blur_sigma: float = 4.0         # initial blur of D's inputs in pixels at 64 px (StyleGAN3), faded out
    blur_fade_kimg: float = 40.0    # ... over this many kimg
    ema_kimg: float = 10.0          # half-life of the EMA generator in kimg
    ema_rampup: float = 0.05        # EMA half-life at most this fraction of the images seen so far
    seed: int = 0


GAN_TRAIN_PRESETS = {
    "quick": GanTrainConfig(batch=16, kimg=1.6, blur_fade_kimg=0.8, ema_kimg=0.5),
    "default": GanTrainConfig(),
    "full": GanTrainConfig(batch=64, kimg=3000, r1_gamma=1.0, blur_sigma=8.0, blur_fade_kimg=100, ema_kimg=20),
}


def gan_train_config(name: str | None = None, **overrides) -> GanTrainConfig:
    """The training preset of a profile, with optional field overrides."""
    return dataclasses.replace(GAN_TRAIN_PRESETS[profile(name)], **overrides)


# ----------------------------------------------------------------------------------------------------- losses
def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """G's loss -log sigmoid(D(G(z))) = softplus(-D(G(z))), averaged."""
    return F.softplus(-fake_logits).mean()


def d_logistic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D's loss softplus(D(fake)) + softplus(-D(real)), averaged."""
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def d_r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 = E ||grad_x D(x)||^2 on real images (needs real.requires_grad and a graph)."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return grad.square().sum([1, 2, 3]).mean()


# ----------------------------------------------------------------------------------------------------- stage
class GanStage:
    """One training step = a D update (with lazy R1) and a G update, then the EMA of G."""

    def __init__(self, G: Generator, D: Discriminator, bank: torch.Tensor, cfg: GanTrainConfig, device):
        self.G, self.D, self.cfg, self.device = G.to(device), D.to(device), cfg, device
        self.G_ema = copy.deepcopy(G).eval().requires_grad_(False)
        self.bank = bank.to(device)
        self.batch = cfg.batch
        r = cfg.r1_every / (cfg.r1_every + 1)                        # lazy-regularisation correction (StyleGAN2)
        self.opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(0.0, 0.99), eps=1e-8)
        self.opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d * r, betas=(0.0, 0.99 ** r), eps=1e-8)
        self.gen = torch.Generator(device=device).manual_seed(cfg.seed)

    def state(self) -> dict:
        return dict(G=self.G, D=self.D, G_ema=self.G_ema, opt_g=self.opt_g, opt_d=self.opt_d,
                    rng=GeneratorState(self.gen))

    def _ws(self) -> torch.Tensor:
        b, G = self.cfg.batch, self.G
        z = torch.randn(b, G.cfg.z_dim, device=self.device, generator=self.gen)
        ws = G.mapping(z, update_w_avg=True)
        if torch.rand([], device=self.device, generator=self.gen) < self.cfg.style_mixing:
            cut = int(torch.randint(1, G.num_ws, [], device=self.device, generator=self.gen))
            z2 = torch.randn(b, G.cfg.z_dim, device=self.device, generator=self.gen)
            ws = torch.cat([ws[:, :cut], G.mapping(z2)[:, cut:]], 1)
        return ws

    def _real(self) -> torch.Tensor:
        i = torch.randint(len(self.bank), [self.cfg.batch], device=self.device, generator=self.gen)
        return to_float(self.bank[i])

    def step(self, i: int) -> dict[str, float]:
        cfg, G, D = self.cfg, self.G, self.D
        nimg = i * cfg.batch
        scale = G.cfg.resolution / 64
        sigma = cfg.blur_sigma * scale * max(1 - nimg / (cfg.blur_fade_kimg * 1e3), 0)
        # --- D: real up, fake down (+ lazy R1)
        with torch.no_grad():
            fake = G.synthesis(self._ws())
        real = self._real()
        do_r1 = cfg.r1_gamma > 0 and i % cfg.r1_every == 0
        real.requires_grad_(do_r1)
        real_logits = D(gaussian_blur(real, sigma))
        fake_logits = D(gaussian_blur(fake, sigma))
        loss_d = d_logistic_loss(real_logits, fake_logits)
        terms = dict(loss_d=loss_d.item(), real=real_logits.mean().item(), fake=fake_logits.mean().item())
        if do_r1:
            r1 = d_r1_penalty(real_logits, real)
            loss_d = loss_d + r1 * (cfg.r1_gamma / 2 * cfg.r1_every)
            terms["r1"] = r1.item()
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        # --- G: fool D
        D.requires_grad_(False)
        loss_g = g_nonsaturating_loss(D(gaussian_blur(G.synthesis(self._ws()), sigma)))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        D.requires_grad_(True)
        terms["loss_g"] = loss_g.item()
        # --- EMA of G (the generator that is shipped)
        ema_nimg = min(cfg.ema_kimg * 1e3, (nimg + cfg.batch) * cfg.ema_rampup)
        beta = 0.5 ** (cfg.batch / max(ema_nimg, 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(self.G_ema.parameters(), G.parameters()):
                p_ema.lerp_(p, 1 - beta)
            for b_ema, b in zip(self.G_ema.buffers(), G.buffers()):
                b_ema.copy_(b)
        return terms


def train_generator(data_root, out, gen_cfg: GeneratorConfig, disc_cfg: DiscriminatorConfig,
                    train_cfg: GanTrainConfig, device="cpu", time_limit_s: float | None = None,
                    progress: bool = True, bank: torch.Tensor | None = None, log_every: int = 50,
                    ckpt_every: int = 500, init: Generator | None = None,
                    on_checkpoint=None) -> tuple[GanStage, dict]:
    """Train G_I (resuming from OUT/checkpoint.pt). Returns the stage (G, D, G_ema) and the loop's summary.

    init: a generator to start G and G_ema from (fine-tuning with a fresh D); ignored when resuming.
    on_checkpoint(stage, step, seconds): called after every checkpoint.
    """
    from ..training import train
    torch.manual_seed(train_cfg.seed)
    if bank is None:
        bank = frame_bank(data_root, "train", progress)
    if bank.shape[-1] != gen_cfg.resolution:
        raise StyletalkerError(f"dataset frames are {bank.shape[-1]} px but the generator makes "
                               f"{gen_cfg.resolution} px: use the dataset of the same profile")
    G = Generator(gen_cfg)
    if init is not None:
        G.load_state_dict(init.state_dict())
    stage = GanStage(G, Discriminator(disc_cfg), bank, train_cfg, device)
    hook = None if on_checkpoint is None else (lambda step, sec: on_checkpoint(stage, step, sec))
    steps = int(np.ceil(train_cfg.kimg * 1e3 / train_cfg.batch))
    summary = train(stage, steps, out, log_every=log_every, ckpt_every=ckpt_every, time_limit_s=time_limit_s,
                    progress=progress, desc="G_I", on_checkpoint=hook)
    return stage, summary
