"""Reconstruction-assisted training of G_I: G's synthesis network as the decoder of an autoencoder, then the mapping
network fitted to the encoder's codes.

Adversarial training alone needs far more images than a 2-core CPU can show in hours (about 5 img/s here). DESIGN.md
section 3 allows a reconstruction-assisted scheme that keeps the style-based architecture and W+: a small encoder
maps a real frame to one code w (offset from w_avg, broadcast to W+), G.synthesis renders it, and both learn to
reconstruct (L1 on pixels and on image gradients). Afterwards the mapping network z -> w is trained to reproduce
the distribution of encoded codes (sliced Wasserstein distance), so that sampling, truncation and W+ editing work as
for a GAN. Our construction; the notebook says so.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from .generator import Generator
from ..data.frames import draw_frames, to_float
from ..imagemetrics import psnr
from ..training import GeneratorState


class FrameEncoder(nn.Module):
    """images [N, 3, R, R] in [-1, 1] -> w offsets [N, w_dim]: strided 3x3 convs down to 4x4, then a linear layer."""

    def __init__(self, resolution: int, w_dim: int, width: int = 32, max_width: int = 128):
        super().__init__()
        layers, c, r = [], 3, resolution
        while r > 4:
            n = min(width, max_width)
            layers += [nn.Conv2d(c, n, 3, 2, 1), nn.LeakyReLU(0.2)]
            c, r, width = n, r // 2, width * 2
        self.net = nn.Sequential(*layers)
        self.fc = nn.Linear(c * 16, w_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.net(x).flatten(1))


def gradient_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """L1 between horizontal and vertical finite differences of two image batches (rewards sharp edges)."""
    dx = lambda t: t[..., :, 1:] - t[..., :, :-1]                    # noqa: E731
    dy = lambda t: t[..., 1:, :] - t[..., :-1, :]                    # noqa: E731
    return (dx(a) - dx(b)).abs().mean() + (dy(a) - dy(b)).abs().mean()


INNER_FACE = slice(17, 68)          # brows, nose, eyes, lips of the 68-point scheme (the jaw line is left out)


def face_weights(landmarks: torch.Tensor, size: int, face_weight: float, sigma_px: float,
                 points: slice = INNER_FACE) -> torch.Tensor:
    """Per-pixel loss weights [N, 1, S, S]: 1 + face_weight * max over the landmarks ``points`` (default the inner
    face; e.g. slice(36, 48) for the eyes alone) of a Gaussian bump.

    landmarks: [N, 68, 2] as (x, y) pixel coordinates of an S x S frame; non-finite rows give weight 1 everywhere.
    The weights are normalised to mean 1 per image, so the loss keeps the scale of a plain L1.
    """
    pts = landmarks[:, points]                                           # [N, P, 2]
    axis = torch.arange(size, dtype=torch.float32, device=landmarks.device) + 0.5
    dx = (axis.view(1, 1, -1) - pts[..., 0:1]) ** 2                      # [N, P, S]
    dy = (axis.view(1, 1, -1) - pts[..., 1:2]) ** 2
    s = sigma_px * size / 64
    bump = torch.exp(-(dy.unsqueeze(3) + dx.unsqueeze(2)) / (2 * s * s)).amax(1)   # [N, S, S]
    bump = torch.nan_to_num(bump, nan=0.0)
    w = 1 + face_weight * bump
    return (w / w.mean([1, 2], keepdim=True)).unsqueeze(1)


def weighted_l1(y: torch.Tensor, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return ((y - x).abs() * w).mean()


def reconstruction_terms(y: torch.Tensor, x: torch.Tensor, w: torch.Tensor | None = None):
    """(pixel L1, image-gradient L1) of y against x; with per-pixel weights w [N, 1, S, S] (``face_weights``) both
    are weighted (the gradient term on sqrt(w)-scaled images). Shared by the autoencoder and detail stages."""
    if w is None:
        return (y - x).abs().mean(), gradient_l1(y, x)
    return weighted_l1(y, x, w), gradient_l1(y * w.sqrt(), x * w.sqrt())


class AutoencoderStage:
    """One step: encode a batch of real frames, render, reconstruct (pixel + gradient L1); updates E and G.synthesis.

    With ``landmarks`` [N, 68, 2] (the frames' ground truth) and face_weight > 0, both L1 terms are weighted per
    pixel by ``face_weights``, so that eyes, brows and lips (a few pixels each at 64 px) count as much as hair and
    background; an unweighted L1 barely notices a 3-pixel eye."""

    def __init__(self, G: Generator, bank: torch.Tensor, batch: int = 32, lr: float = 0.002, grad_weight: float = 1.0,
                 seed: int = 0, device="cpu", landmarks: torch.Tensor | None = None, face_weight: float = 0.0,
                 sigma_px: float = 2.0, closed: torch.Tensor | None = None, closed_share: float = 0.0):
        self.G, self.bank, self.batch, self.device = G.to(device), bank.to(device), batch, device
        self.E = FrameEncoder(G.cfg.resolution, G.cfg.w_dim).to(device)
        self.grad_weight = grad_weight
        if face_weight > 0 and landmarks is None:
            raise ValueError("face_weight > 0 needs the frames' landmarks")
        if landmarks is not None and len(landmarks) != len(bank):
            raise ValueError(f"{len(landmarks)} landmark rows for {len(bank)} frames")
        self.landmarks = None if face_weight <= 0 else landmarks.to(device)
        self.face_weight, self.sigma_px = face_weight, sigma_px
        self.closed, self.closed_share = closed, closed_share          # closed-eye frames over-sampled (draw_frames)
        self.opt = torch.optim.Adam(list(self.E.parameters()) + list(G.synthesis.parameters()), lr=lr,
                                    betas=(0.9, 0.99))
        self.gen = torch.Generator().manual_seed(seed)

    def state(self) -> dict:
        return dict(G=self.G, E=self.E, opt=self.opt, rng=GeneratorState(self.gen))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """real images [N, 3, R, R] in [-1, 1] -> W+ [N, num_ws, w_dim] (one code broadcast to every layer)."""
        w = self.G.w_avg + self.E(x)
        return w.unsqueeze(1).repeat(1, self.G.num_ws, 1)

    def step(self, i: int) -> dict[str, float]:
        idx = draw_frames(len(self.bank), self.batch, self.gen, self.closed, self.closed_share)
        x = to_float(self.bank[idx.to(self.bank.device)]).to(self.device)
        y = self.G.synthesis(self.encode(x))
        w = None if self.landmarks is None else face_weights(self.landmarks[idx.to(self.landmarks.device)],
                                                             x.shape[-1], self.face_weight, self.sigma_px)
        l1, lg = reconstruction_terms(y, x, w)
        loss = l1 + self.grad_weight * lg
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return dict(l1=l1.item(), grad_l1=lg.item())


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, n_dirs: int = 64, gen: torch.Generator | None = None):
    """Sliced Wasserstein-2 distance between point sets a, b [N, D] (same N): mean over random unit directions of
    the squared distance between the sorted projections."""
    d = torch.randn(a.shape[1], n_dirs, generator=gen).to(a.device)
    d = d / d.norm(dim=0, keepdim=True)
    pa, pb = (a @ d).sort(0).values, (b @ d).sort(0).values
    return (pa - pb).square().mean()


def fit_mapping(G: Generator, codes: torch.Tensor, steps: int = 2000, batch: int = 512, lr: float = 1.0,
                seed: int = 0) -> list[float]:
    """Train G.mapping so that w = mapping(z), z ~ N(0, I), matches the distribution of ``codes`` [N, w_dim];
    sets w_avg to the codes' mean. Returns the loss curve. (lr is for the raw, equalised parameters: the
    mapping's 0.01 learning-rate multiplier makes 1.0 here an effective 0.01.)"""
    g = torch.Generator().manual_seed(seed)
    dev = G.mapping.w_avg.device
    codes = codes.to(dev)
    with torch.no_grad():
        G.mapping.w_avg.copy_(codes.mean(0))
    opt = torch.optim.Adam(G.mapping.parameters(), lr=lr)
    curve = []
    for _ in range(steps):
        z = torch.randn(batch, G.cfg.z_dim, generator=g).to(dev)
        w = G.mapping(z)[:, 0]
        target = codes[torch.randint(len(codes), [batch], generator=g).to(dev)]
        loss = sliced_wasserstein(w, target, gen=g) + (w.mean(0) - target.mean(0)).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        curve.append(loss.item())
    return curve


@torch.no_grad()
def encode_bank(stage: AutoencoderStage, bank: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """The single w code [N, w_dim] of every frame."""
    out = []
    for a in range(0, len(bank), batch):
        out.append((stage.G.w_avg + stage.E(to_float(bank[a:a + batch]).to(stage.device))).cpu())
    return torch.cat(out)


def train_reconstruction(G: Generator, bank: torch.Tensor, out, kimg: float, batch: int = 32,
                         time_limit_s: float | None = None, progress: bool = True, device="cpu",
                         mapping_steps: int = 2000, landmarks: torch.Tensor | None = None,
                         face_weight: float = 0.0, closed: torch.Tensor | None = None,
                         closed_share: float = 0.0) -> tuple[AutoencoderStage, dict]:
    """The whole scheme: autoencoder steps (resumable in OUT), then the mapping fitted to the encoded codes.
    landmarks, face_weight: weight the loss at the inner face (see AutoencoderStage); closed, closed_share: draw that
    share of each batch from the closed-eye frames ``closed`` (``data.frames.closed_eye_frames``).

    Returns the stage (its G is the trained generator, in eval mode) and the loop's summary plus the final
    reconstruction PSNR on 256 frames and the mapping's last loss.
    """
    from ..training import train
    G.train()
    stage = AutoencoderStage(G, bank, batch=batch, device=device, landmarks=landmarks, face_weight=face_weight,
                             closed=closed, closed_share=closed_share)
    steps = int(math.ceil(kimg * 1e3 / batch))
    summary = train(stage, steps, out, log_every=20, ckpt_every=100, time_limit_s=time_limit_s,
                    progress=progress, desc="G_I autoencoder")
    G.eval()
    codes = encode_bank(stage, bank)
    curve = fit_mapping(G, codes, steps=mapping_steps)
    with torch.no_grad():
        x = to_float(bank[torch.randperm(len(bank), generator=torch.Generator().manual_seed(0))[:256]]).to(device)
        summary["psnr"] = psnr(G.synthesis(stage.encode(x)), x).mean().item()
    summary["mapping_loss"] = curve[-1]
    return stage, summary
