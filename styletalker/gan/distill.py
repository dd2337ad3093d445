"""Distillation: a narrower G_I that draws the teacher's images from the same W+ codes, made on a CPU.

The shipped G_I (trained on a GPU) renders about 20 images/s on a 2-core CPU; real-time video at 25 fps needs more.
Synthesis cost grows with the square of the channel count, so a student with the teacher's layers, sampling rates
and W+ layout but fewer channels (``channel_base`` 1024 instead of 1536: two thirds of the channels in every layer)
is 1.6x faster, and because it reads the same codes, Enc_I, the talker and the priors drive it unchanged.

1. Prune: the student starts from the teacher's weights. Each layer keeps the output channels with the largest RMS
   on real codes, and the next layer the matching input channels; the Fourier input keeps the frequencies its kept
   outputs weigh most. (A start, not a result: about 15 dB from the teacher.)
2. Distil: the student learns to reproduce the teacher's images from the same codes (L1 on pixels, Adam, cosine
   learning-rate decay). The codes are Enc_I's codes of training frames (what inversion and the talker produce)
   plus mapping samples (what ``styletalker sample`` draws); the teacher's images are computed once and cached.

``styletalker train distill`` runs both, resumable like every stage.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import pathlib

import torch

from ..config import profile
from ..errors import StyletalkerError
from ..imagemetrics import psnr
from ..training import GeneratorState, train
from .autoencoder import face_weights
from .generator import Generator, GeneratorConfig


@dataclasses.dataclass(frozen=True)
class DistillConfig:
    """Length and data of distillation."""
    steps: int = 3600            # optimiser steps
    batch: int = 8               # codes per step
    lr: float = 1e-3             # Adam learning rate at the start
    lr_final: float = 0.1        # ... decayed (cosine) to this fraction of it at the last step
    codes: int = 4000            # Enc_I codes of training frames, spread evenly over the split
    samples: int = 1000          # mapping samples, truncation psi ~ U(psi_min, 1)
    psi_min: float = 0.5
    face_weight: float = 0.0     # extra L1 weight at the inner-face landmarks of the codes' frames (0 = plain L1)
    face_sigma_px: float = 2.0   # ... as Gaussian bumps of this radius (pixels at 64 px)
    seed: int = 0


DISTILL_PRESETS = {
    "quick": dict(steps=30, batch=4, codes=48, samples=16),
    "default": dict(),
    "full": dict(steps=20000, batch=16, codes=20000, samples=5000),
}


def distill_config(name: str | None = None, **overrides) -> DistillConfig:
    return dataclasses.replace(DistillConfig(**DISTILL_PRESETS[profile(name)]), **overrides)


def check_student(T: Generator, cfg: GeneratorConfig) -> None:
    """A student must read the teacher's codes and draw at its sampling rates: only the widths may differ (and the
    margin, which has no parameters: a smaller one renders faster)."""
    free = ("channel_base", "channel_max", "margin")
    same = [f.name for f in dataclasses.fields(GeneratorConfig) if f.name not in free]
    diff = [n for n in same if getattr(cfg, n) != getattr(T.cfg, n)]
    if diff:
        raise StyletalkerError(f"the student differs from the teacher in {', '.join(diff)}: a distilled generator "
                               "keeps the teacher's layout; only channel_base, channel_max and margin may change")
    ts, ss = T.synthesis.schedule["channels"], Generator(cfg).synthesis.schedule["channels"]
    if any(int(s) > int(t) for s, t in zip(ss, ts)):
        raise StyletalkerError(f"the student's channels {list(map(int, ss))} exceed the teacher's "
                               f"{list(map(int, ts))} somewhere: pruning keeps a subset; lower channel_base")


@torch.no_grad()
def channel_rms(G: Generator, ws: torch.Tensor, batch: int = 16) -> list[torch.Tensor]:
    """RMS over ws of every output channel of the Fourier input and of each layer before ToRGB: [C_i] each.
    (Sums per module, however many calls a batch takes: CPU synthesis renders in micro-batches.)"""
    mods = [G.synthesis.input, *G.synthesis.layers[:-1]]
    sums, counts = [0.0] * len(mods), [0] * len(mods)

    def hook(k):
        def add(mod, inputs, out):
            sums[k] = sums[k] + out.float().square().sum([0, 2, 3])
            counts[k] += out.shape[0] * out.shape[2] * out.shape[3]
        return add
    hooks = [m.register_forward_hook(hook(k)) for k, m in enumerate(mods)]
    try:
        for chunk in ws.split(batch):
            G.synthesis(chunk)
    finally:
        for h in hooks:
            h.remove()
    return [(s / n).sqrt() for s, n in zip(sums, counts)]


def spread(total: int, n: int) -> torch.Tensor:
    """Indices of min(n, total) items spread evenly over ``total`` (the same frames for codes and landmarks)."""
    return torch.linspace(0, total - 1, min(n, total)).long()


def _top(score: torch.Tensor, k: int) -> torch.Tensor:
    return score.topk(k).indices.sort().values


@torch.no_grad()
def prune(T: Generator, cfg: GeneratorConfig, ws: torch.Tensor) -> Generator:
    """A student of config ``cfg`` (the teacher's layout, fewer channels) initialised from T's strongest channels
    on the codes ``ws``, in eval mode; its mapping network (and so w_avg) is the teacher's."""
    check_student(T, cfg)
    S = Generator(cfg).eval()
    S.mapping.load_state_dict(T.mapping.state_dict())
    rms = channel_rms(T, ws)
    ch = S.synthesis.schedule["channels"]                             # layer i maps channels[i - 1] -> channels[i]
    keep = [_top(r, int(n)) for r, n in zip(rms, [ch[0], *ch[:-1]])]  # the input's outputs, then each layer's
    ti, si = T.synthesis.input, S.synthesis.input
    fk = _top(ti.weight[keep[0]].norm(dim=0), si.channels)           # the frequencies the kept outputs weigh most
    si.freqs.copy_(ti.freqs[fk])
    si.phases.copy_(ti.phases[fk])
    si.weight.copy_(ti.weight[keep[0]][:, fk] * math.sqrt(si.channels / ti.channels))   # forward divides by sqrt(C)
    si.affine.load_state_dict(ti.affine.state_dict())
    si.transform.copy_(ti.transform)
    for i, (tl, sl) in enumerate(zip(T.synthesis.layers, S.synthesis.layers)):
        k_in = keep[i]
        k_out = keep[i + 1] if i + 1 < len(keep) else torch.arange(tl.weight.shape[0])   # ToRGB keeps RGB
        sl.weight.copy_(tl.weight[k_out][:, k_in])
        sl.bias.copy_(tl.bias[k_out])
        # ToRGB divides its styles by sqrt(fan-in) and does not demodulate: keep the teacher's scale (the other
        # layers demodulate, which cancels any common scale of their styles and weights)
        gain = math.sqrt(sl.weight[0].numel() / tl.weight[0].numel()) if tl.is_torgb else 1.0
        sl.affine.weight.copy_(tl.affine.weight[k_in] * gain)
        sl.affine.bias.copy_(tl.affine.bias[k_in] * gain)
        sl.magnitude_ema.copy_(tl.magnitude_ema)
    return S


@torch.no_grad()
def distill_codes(T: Generator, E, bank: torch.Tensor, cfg: DistillConfig) -> torch.Tensor:
    """The training codes: Enc_I of ``cfg.codes`` frames spread evenly over ``bank`` (uint8 [N, 3, R, R]), then
    ``cfg.samples`` mapping samples with random truncation (seeded): [codes + samples, num_ws, w_dim]."""
    from ..inversion.invert import encode
    ws = [encode(E, bank[spread(len(bank), cfg.codes)])] if cfg.codes else []
    if cfg.samples:
        g = torch.Generator().manual_seed(cfg.seed)
        z = torch.randn(cfg.samples, T.cfg.z_dim, generator=g)
        psi = cfg.psi_min + (1 - cfg.psi_min) * torch.rand(cfg.samples, 1, 1, generator=g)
        w = T.mapping(z)
        ws.append(T.mapping.w_avg + psi * (w - T.mapping.w_avg))
    if not ws:
        raise StyletalkerError("distillation needs codes: set codes or samples above 0")
    return torch.cat(ws)


@torch.no_grad()
def teacher_images(T: Generator, ws: torch.Tensor, batch: int = 32) -> torch.Tensor:
    """T's images of ws: float [N, 3, R, R] (the distillation targets)."""
    return torch.cat([T.synthesis(w) for w in ws.split(batch)])


def code_landmarks(landmarks: torch.Tensor, cfg: DistillConfig) -> torch.Tensor:
    """Landmarks [N_codes, 68, 2] in the order of :func:`distill_codes`: those of the frames whose Enc_I codes are
    used, then NaN for the mapping samples (their loss stays a plain L1)."""
    lm = landmarks[spread(len(landmarks), cfg.codes)] if cfg.codes else landmarks[:0]
    return torch.cat([lm.float(), torch.full((cfg.samples, *landmarks.shape[1:]), float("nan"))])


def _weights_digest(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _targets_key(T: Generator, E, bank: torch.Tensor, cfg: DistillConfig) -> str:
    return json.dumps(dict(teacher=_weights_digest(T), encoder=_weights_digest(E), frames=len(bank),
                           codes=cfg.codes, samples=cfg.samples, psi_min=cfg.psi_min, seed=cfg.seed), sort_keys=True)


def cached_targets(T: Generator, E, bank: torch.Tensor, cfg: DistillConfig, out) -> tuple[torch.Tensor, torch.Tensor]:
    """(codes, teacher images), computed once and kept in OUT/targets.safetensors so that a resumed run trains on
    the same pairs without rendering them again (written atomically). The file records what made it (the teacher's
    and the encoder's weights, the bank's size, the code settings); a file made otherwise is recomputed."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    path = pathlib.Path(out) / "targets.safetensors"
    key = _targets_key(T, E, bank, cfg)
    if path.exists():
        with safe_open(str(path), "pt") as f:
            made_by = (f.metadata() or {}).get("key")
        if made_by == key:
            d = load_file(path)
            return d["ws"], d["images"]
    ws = distill_codes(T, E, bank, cfg)
    images = teacher_images(T, ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    save_file(dict(ws=ws.contiguous(), images=images.contiguous()), str(tmp), metadata=dict(key=key))
    os.replace(tmp, path)
    return ws, images


class DistillStage:
    """One distillation step for :func:`styletalker.training.train`: L1 between the student's and the teacher's
    images of a batch of codes; the learning rate follows a cosine from ``lr`` to ``lr * lr_final``."""

    def __init__(self, S: Generator, ws: torch.Tensor, targets: torch.Tensor, cfg: DistillConfig, device="cpu",
                 landmarks: torch.Tensor | None = None):
        self.S, self.ws, self.targets, self.cfg, self.device = S.to(device).train(), ws, targets, cfg, device
        if cfg.face_weight > 0 and landmarks is None:
            raise StyletalkerError("face_weight > 0 needs the landmarks of the codes' frames")
        self.landmarks = landmarks if cfg.face_weight > 0 else None
        S.mapping.requires_grad_(False)                            # the codes are the teacher's: keep its mapping
        self.opt = torch.optim.Adam(S.synthesis.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.batch = cfg.batch

    def state(self) -> dict:
        return dict(S=self.S, opt=self.opt, rng=GeneratorState(self.gen))

    def lr(self, i: int) -> float:
        c = self.cfg
        return c.lr * (c.lr_final + (1 - c.lr_final) * 0.5 * (1 + math.cos(math.pi * i / max(c.steps, 1))))

    def step(self, i: int) -> dict[str, float]:
        for group in self.opt.param_groups:
            group["lr"] = self.lr(i)
        idx = torch.randint(len(self.ws), [self.batch], generator=self.gen)
        y = self.S.synthesis(self.ws[idx].to(self.device))
        target = self.targets[idx].to(self.device)
        if self.landmarks is None:
            loss = (y - target).abs().mean()
        else:                                                       # weighted at the eyes, brows, nose and lips
            w = face_weights(self.landmarks[idx].to(self.device), y.shape[-1], self.cfg.face_weight,
                             self.cfg.face_sigma_px)
            loss = ((y - target).abs() * w).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return dict(l1=loss.item(), psnr=psnr(y.detach(), target).mean().item())


def distill(T: Generator, E, bank: torch.Tensor, student: GeneratorConfig, out, cfg: DistillConfig,
            time_limit_s: float | None = None, progress: bool = True, device="cpu", on_checkpoint=None,
            ckpt_every: int = 250, landmarks: torch.Tensor | None = None,
            init: Generator | None = None) -> tuple[Generator, dict]:
    """Prune T to ``student`` and distil it on codes of ``bank`` (resumable in OUT). Returns (student in eval mode on
    the CPU, the training summary). landmarks [N, 68, 2] of ``bank``'s frames: needed when ``cfg.face_weight`` > 0.
    init: a student to continue from (e.g. a second, face-weighted stage) instead of pruning T."""
    check_student(T, student)
    T = T.eval()
    ws, targets = cached_targets(T, E, bank, cfg, out)
    if init is not None:
        if init.cfg != student:
            raise StyletalkerError("the init student's config differs from the student's: pass one of them")
        S = Generator(student).eval()
        S.load_state_dict(init.state_dict())
    else:
        S = prune(T, student, ws[:512])
    lm = code_landmarks(landmarks, cfg) if landmarks is not None and cfg.face_weight > 0 else None
    stage = DistillStage(S, ws, targets, cfg, device, landmarks=lm)
    summary = train(stage, cfg.steps, out, log_every=25, ckpt_every=ckpt_every, time_limit_s=time_limit_s,
                    progress=progress, desc="distilling G_I",
                    on_checkpoint=None if on_checkpoint is None else lambda s, t: on_checkpoint(stage, s, t))
    return S.cpu().eval(), summary


@torch.no_grad()
def fidelity(S: Generator, T: Generator, frames: torch.Tensor, E, n: int = 256) -> dict:
    """On up to n frames spread over ``frames`` (uint8 [N, 3, R, R], e.g. held out): mean PSNR of the student's
    images to the teacher's from the same Enc_I codes, and of each to the real frames."""
    from ..data.frames import to_float
    from ..inversion.invert import encode
    x = to_float(frames[spread(len(frames), n)])
    ws = encode(E, x)
    ys, yt = teacher_images(S, ws), teacher_images(T, ws)
    return dict(psnr_to_teacher=round(psnr(ys, yt).mean().item(), 2), psnr_to_real=round(psnr(ys, x).mean().item(), 2),
                teacher_psnr_to_real=round(psnr(yt, x).mean().item(), 2))
