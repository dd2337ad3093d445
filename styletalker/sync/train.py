"""Training D_sync and the sync evaluator on ground-truth clips, as stages of the shared loop (:mod:`..training`).

Each step draws ``clips`` random clips of the train split and a random run of ``run`` frames from each. D_sync embeds
the 5-frame windows of each run that start 2 frames apart (8 of a 20-frame run), and their audio windows; InfoNCE over
the whole batch makes the same clip's other windows (shifted by 2, 4, ... frames) and every other clip's windows the
negatives. The evaluator embeds every window of its runs (1 frame apart) and learns multi-way matching on distances.
"""
from __future__ import annotations

import dataclasses

import torch

from ..config import profile
from ..training import GeneratorState
from .data import WINDOW, SyncClips, audio_windows, video_windows
from .evaluator import SyncEvaluator, matching_loss
from .model import DSync, info_nce


@dataclasses.dataclass(frozen=True)
class SyncTrainConfig:
    """How one of the sync networks is trained."""
    steps: int = 2500               # optimiser steps
    clips: int = 32                 # clips per step
    run: int = 20                   # frames drawn from each clip
    lr: float = 2e-3                # AdamW learning rate (cosine decay to 5 % after a short warm-up)
    weight_decay: float = 1e-4      # AdamW's decoupled weight decay
    warmup: int = 100               # steps of linear warm-up
    degrade: float = 0.0            # share of clips blurred and noised (robustness to a second lossy encoding)
    rendered: float = 0.0           # share of clips drawn as the talking pair renders them, G(Enc_I(x)) (D_sync
                                    # for the talker's lip-sync loss; SyncClips.add_rendered)
    seed: int = 0


SYNC_TRAIN_PRESETS = {
    "quick": SyncTrainConfig(steps=150, clips=8, run=16),
    "default": SyncTrainConfig(),
    "full": SyncTrainConfig(steps=20000, clips=64),
}

EVALUATOR_TRAIN_PRESETS = {
    "quick": SyncTrainConfig(steps=150, clips=8, run=16, seed=1),
    "default": SyncTrainConfig(steps=5000, clips=16, run=24, degrade=0.5, seed=1),
    "full": SyncTrainConfig(steps=20000, clips=48, run=24, seed=1),
}


def sync_train_config(name: str | None = None, **overrides) -> SyncTrainConfig:
    """D_sync's training preset of a profile, with optional field overrides."""
    return dataclasses.replace(SYNC_TRAIN_PRESETS[profile(name)], **overrides)


def evaluator_train_config(name: str | None = None, **overrides) -> SyncTrainConfig:
    """The evaluator's training preset of a profile, with optional field overrides."""
    return dataclasses.replace(EVALUATOR_TRAIN_PRESETS[profile(name)], **overrides)


def _lr_lambda(cfg: SyncTrainConfig):
    import math

    def f(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        t = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t))
    return f


class _Stage:
    """What both stages share: the data, AdamW with warm-up and cosine decay, the random stream."""

    def __init__(self, net: torch.nn.Module, data: SyncClips, cfg: SyncTrainConfig, device="cpu"):
        self.net, self.data, self.cfg, self.device = net.to(device).train(), data, cfg, device
        self.batch = cfg.clips
        self.opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, _lr_lambda(cfg))
        self.gen = torch.Generator().manual_seed(cfg.seed)

    def state(self) -> dict:
        return dict(net=self.net, opt=self.opt, sched=self.sched, rng=GeneratorState(self.gen))

    def _update(self, loss: torch.Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()


class DSyncStage(_Stage):
    """One step of D_sync: InfoNCE over the windows of all runs (2 frames apart within a run)."""

    def step(self, i: int) -> dict[str, float]:
        crops, mel, _ = self.data.runs(self.cfg.clips, self.cfg.run, self.gen,           # [B, L, h, w], [B, L, M, W]
                                       rendered=self.cfg.rendered)
        crops, mel = crops.to(self.device), mel.to(self.device)
        phase = int(torch.randint(2, [], generator=self.gen))
        pos = torch.arange(phase, self.cfg.run - WINDOW + 1, 2)                          # window starts, 2 apart
        vw = video_windows(crops)[:, pos].flatten(0, 1)                                  # [B*S, 5, h, w]
        aw = audio_windows(mel)[:, pos].flatten(0, 1)                                    # [B*S, M, W]
        logits = self.net.similarity(self.net.embed_video(vw), self.net.embed_audio(aw))
        loss = info_nce(logits)
        self._update(loss)
        with torch.no_grad():
            acc = (logits.argmax(1) == torch.arange(len(logits), device=logits.device)).float().mean()
        return dict(loss=loss.item(), acc=acc.item(), tau=1 / self.net.scale().item())


class EvaluatorStage(_Stage):
    """One step of the evaluator: multi-way matching over every window of the runs (1 frame apart)."""

    def step(self, i: int) -> dict[str, float]:
        crops, mel, _ = self.data.runs(self.cfg.clips, self.cfg.run, self.gen, degrade=self.cfg.degrade)
        crops, mel = crops.to(self.device), mel.to(self.device)
        v = self.net.embed_video(crops).flatten(0, 1)                                   # [B*(L-4), D]
        a = self.net.embed_audio(audio_windows(mel).flatten(0, 1))
        loss = matching_loss(v, a)
        self._update(loss)
        with torch.no_grad():
            d = torch.cdist(v, a)
            acc = (d.argmin(1) == torch.arange(len(d), device=d.device)).float().mean()
        return dict(loss=loss.item(), acc=acc.item(), dist_pos=d.diagonal().mean().item())


def train_sync_net(kind: str, data_root, out, net_cfg, train_cfg: SyncTrainConfig, device="cpu",
                   time_limit_s: float | None = None, progress: bool = True, log_every: int = 25,
                   ckpt_every: int = 500, on_checkpoint=None, data: SyncClips | None = None,
                   init: dict | None = None):
    """Train D_sync (kind 'dsync') or the evaluator (kind 'sync_evaluator') with the shared loop, resuming from OUT.

    init: a state dict to start from (fine-tuning a saved network; a checkpoint in OUT still takes precedence).

    on_checkpoint(stage, step, seconds): called after each checkpoint (e.g. to export the network so far).
    Returns (stage, summary) with summary = {'step', 'seconds', 'images_per_s' (clips/s), 'done'}.
    """
    from ..training import train
    net = DSync(net_cfg) if kind == "dsync" else SyncEvaluator(net_cfg)
    if init is not None:
        net.load_state_dict(init)
    data = data if data is not None else SyncClips(data_root, "train", net.crop, progress)
    stage = (DSyncStage if kind == "dsync" else EvaluatorStage)(net, data, train_cfg, device)
    summary = train(stage, train_cfg.steps, out, log_every=log_every, ckpt_every=ckpt_every,
                    time_limit_s=time_limit_s, progress=progress, desc=kind,
                    on_checkpoint=None if on_checkpoint is None else lambda n, t: on_checkpoint(stage, n, t))
    stage.net.eval()
    return stage, summary
