"""The conditional sequential VAE's networks (paper Fig. 2 and 4): audio encoder, motion posterior, w manipulation.

Our reconstruction (the paper gives no layer sizes):

    a_t  = AudioEncoder(mel window of frame t) - AudioEncoder(silence)          [B, T, audio_dim]
    q(m_t | video) = N(mu_t, sigma_t),  (mu, log sigma) = MotionPosterior(W+_t - W+_ref over the clip)
    W+_hat_t = W+_ref + f_audio(a_t, W+_ref) + f_motion(m_t, W+_ref)              [B, T, num_ws, w_dim]

* a_t is centred on silence, and both offset paths are bias-free in their input with a multiplicative condition on
  W+_ref (FiLM), so f(W+_ref, 0, 0) = 0 exactly: with silent audio and zero motion the module returns the reference
  code, i.e. the reference image.
* The motion posterior reads *differences* of inverted codes from the reference's, so what is constant over a clip
  (identity) is removed before it can leak into m_t; a bidirectional GRU lets m_t see the whole motion clip.
* Which layers each path edits (``audio_layers``, ``motion_layers``): audio edits the middle and fine codes only,
  where G_I's mouth shape lives (the coarse codes set the head's layout and pose, which the audio should not move);
  motion edits every code, since pose is coarse and blinks are fine. Both are config fields, so the notebook can
  show what happens otherwise.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from ..config import profile


@dataclasses.dataclass(frozen=True)
class TalkerConfig:
    """Sizes of the talker (everything but the frozen G_I, Enc_I and D_sync)."""
    num_ws: int = 8                # W+ codes of G_I
    w_dim: int = 128               # width of a code
    n_mels: int = 80               # mel bands of the audio windows
    mel_window: int = 20           # mel frames per video frame's window (0.2 s)
    audio_dim: int = 64            # a_t
    motion_dim: int = 16           # m_t (8 to 32 in the issue)
    hidden: int = 128              # GRU and MLP width
    audio_layers: tuple = (3, 4, 5, 6, 7)       # W+ codes the audio path edits (middle and fine)
    motion_layers: tuple = (0, 1, 2, 3, 4, 5, 6, 7)  # W+ codes the motion path edits (all)
    prior: str = "gaussian"        # motion prior: gaussian (autoregressive) or flow (issue 7)
    mouth_rank: int = 1            # W+ directions that move the mouth, hidden from the motion posterior (0: none)
    flow_transforms: int = 2       # spline coupling layers of the flow prior (alternating halves)
    prior_residual: bool = False   # the prior models the step m_t - (1 - k) m_(t-1), learnt pull k (prior.py)
    prior_target: str = "sample"   # what the second-stage prior fits: m ~ q ("sample") or q's mean ("mean")
    prior_step_input: bool = False  # the prior's GRU also reads its last step m_(t-1) - m_(t-2) (prior.py)
    prior_input_norm: bool = False  # the prior's GRU reads its inputs standardised by training statistics (prior.py)
    prior_box: float = 4.0         # sampled m_t kept within in_mean +- prior_box * in_std per dimension (0: off;
                                   # needs prior_input_norm's statistics; prior.py, session 18)
    prior_style: int = 0           # dimensions of a per-sample style latent c the prior's GRU reads (0: none;
                                   # needs prior_input_norm; prior.py, session 27)
    prior_noise_context: str = "history"  # what p(m_t | .)'s scale and flow read: h_t ("history", issue 7's), or
                                   # a_t, e_ref and c only ("style"; prior.py, session 27)
    prior_style_mix: int = 0       # components of the style latent's fitted prior p(c), a mixture of the training
                                   # windows' q(c | m) (0: N(0, I); prior.py, session 27)
    silence_db: float = -11.5      # log-mel of silence (the audio front end's floor), for centring a_t
    reset_mouth: bool = False      # the manipulation starts from W+_ref with its mouth (the posterior's mouth_basis
                                   # directions) closed, so the audio path draws the whole mouth instead of adding
                                   # to whatever the reference photo shows; off in the presets: in W+ it removes
                                   # the reference's mouth from the output, in the frames it changed no bar
                                   # (docs/benchmarks.md, issue 6, session 13)


TALKER_PRESETS = {
    "quick": dict(num_ws=7, w_dim=64, audio_dim=32, motion_dim=8, hidden=64, audio_layers=(2, 3, 4, 5, 6),
                  motion_layers=(0, 1, 2, 3, 4, 5, 6)),
    "default": dict(),
    "full": dict(flow_transforms=4, num_ws=12, w_dim=256, audio_dim=128, motion_dim=32, hidden=256,
                 audio_layers=tuple(range(4, 12)), motion_layers=tuple(range(12))),
}


def talker_config(name: str | None = None, **overrides) -> TalkerConfig:
    """The profile's preset with ``overrides``. A ``num_ws`` (the generator's code count) given without layer lists
    gets the preset's split scaled to it: motion edits every code, audio the codes from 3/8 of the way on."""
    for k in ("audio_layers", "motion_layers"):
        if k in overrides:
            overrides[k] = tuple(overrides[k])
    cfg = TalkerConfig(**TALKER_PRESETS[profile(name)])
    K = overrides.get("num_ws", cfg.num_ws)
    if K != cfg.num_ws:
        overrides.setdefault("motion_layers", tuple(range(K)))
        overrides.setdefault("audio_layers", tuple(range(round(3 * K / 8), K)))
    return dataclasses.replace(cfg, **overrides)


class AudioEncoder(nn.Module):
    """mel [B, T, n_mels, mel_window] (raw log-mel, one 0.2 s window per frame) -> a_t [B, T, audio_dim],
    centred so that silence gives 0."""

    def __init__(self, cfg: TalkerConfig):
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden
        self.net = nn.Sequential(
            nn.Conv1d(cfg.n_mels, h, 3, padding=1), nn.LeakyReLU(0.2),          # over the 20 mel frames
            nn.Conv1d(h, h, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv1d(h, h, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(h, cfg.audio_dim))
        self.context = nn.Conv1d(cfg.audio_dim, cfg.audio_dim, 3, padding=1)  # a little context across frames

    def _embed(self, mel: torch.Tensor) -> torch.Tensor:
        B, T = mel.shape[:2]
        x = (mel.flatten(0, 1) + 7.0) / 3.6                                  # the world's log-mel statistics
        return self.net(x).view(B, T, -1)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        assert mel.dim() == 4 and mel.shape[2:] == (self.cfg.n_mels, self.cfg.mel_window), mel.shape
        silence = torch.full_like(mel[:1, :1], self.cfg.silence_db)
        e = self._embed(mel) - self._embed(silence)                          # [B, T, A], silence -> 0
        ctx = self.context(e.transpose(1, 2)) - self.context.bias[None, :, None]   # bias-free: 0 stays 0
        return e + ctx.transpose(1, 2)


class MotionPosterior(nn.Module):
    """Inverted codes of a motion clip ws [B, T, K, D] and the reference's ws_ref [B, K, D] -> (mu, log sigma) of
    q(m_t | video), each [B, T, motion_dim]."""

    def __init__(self, cfg: TalkerConfig):
        super().__init__()
        self.cfg = cfg
        self.inp = nn.Sequential(nn.Linear(cfg.num_ws * cfg.w_dim, cfg.hidden), nn.LeakyReLU(0.2))
        self.gru = nn.GRU(cfg.hidden, cfg.hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * cfg.hidden, 2 * cfg.motion_dim)
        # orthonormal columns U spanning the W+ directions a linear landmark probe reads the mouth from (set by
        # training, :func:`styletalker.talker.train.mouth_probe`; zeros = no projection). The posterior sees
        # d - U U^T d: the mouth is left to the audio path, which is what disentangles lips from motion here.
        self.register_buffer("mouth_basis", torch.zeros(cfg.num_ws * cfg.w_dim, cfg.mouth_rank))

    def forward(self, ws: torch.Tensor, ws_ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert ws.dim() == 4 and ws_ref.dim() == 3 and ws.shape[2:] == ws_ref.shape[1:], (ws.shape, ws_ref.shape)
        d = (ws - ws_ref[:, None]).flatten(2)                               # [B, T, K * D]
        U = self.mouth_basis
        d = d - (d @ U) @ U.T
        h, _ = self.gru(self.inp(d))
        mu, log_sigma = self.out(h).chunk(2, -1)
        return mu, log_sigma.clamp(-7, 2)


class _OffsetPath(nn.Module):
    """x [B, T, n_in] -> offsets [B, T, len(layers), w_dim], zero for x = 0, modulated by the reference code."""

    def __init__(self, n_in: int, cfg: TalkerConfig, layers: tuple):
        super().__init__()
        self.layers = tuple(layers)
        self.l1 = nn.Linear(n_in, cfg.hidden, bias=False)
        self.l2 = nn.Linear(cfg.hidden, cfg.hidden, bias=False)
        self.film = nn.Linear(cfg.num_ws * cfg.w_dim, 2 * cfg.hidden)       # scales from W+_ref
        self.out = nn.Linear(cfg.hidden, len(self.layers) * cfg.w_dim, bias=False)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        nn.init.normal_(self.out.weight, std=1e-3)                           # start near W+_ref
        self.w_dim = cfg.w_dim

    def forward(self, x: torch.Tensor, ws_ref: torch.Tensor) -> torch.Tensor:
        s1, s2 = (1 + self.film(ws_ref.flatten(1))).chunk(2, -1)            # [B, H] each
        h = F.leaky_relu(self.l1(x) * s1[:, None], 0.2)
        h = F.leaky_relu(self.l2(h) * s2[:, None], 0.2)
        return self.out(h).view(*x.shape[:2], len(self.layers), self.w_dim)


class WManipulation(nn.Module):
    """W+_hat_t = N(W+_ref) + f_audio(a_t, W+_ref) + f_motion(m_t, W+_ref): [B, K, D], [B, T, A], [B, T, M] ->
    [B, T, K, D].

    N is the identity, or with ``cfg.reset_mouth`` the mouth reset: W+_ref's coordinates along the mouth directions U
    (orthonormal columns, the motion posterior's ``mouth_basis``) replaced by those of a closed mouth ``c``
    (:func:`~styletalker.talker.train.mouth_centre`), N(w) = w - U (U^T w - c); silence (a_t = 0) and no motion then
    give the reference with its mouth shut. Without it the talker's mouth is the reference's plus an audio offset:
    measured on the default data (``benchmarks/latent_mouth_probe.py``), each clip's mean mouth then followed the
    reference frame's jaw (r 0.83) rather than the speech (r 0.31). The paths' FiLM still reads the whole W+_ref."""

    def __init__(self, cfg: TalkerConfig):
        super().__init__()
        self.cfg = cfg
        self.audio = _OffsetPath(cfg.audio_dim, cfg, cfg.audio_layers)
        self.motion = _OffsetPath(cfg.motion_dim, cfg, cfg.motion_layers)
        if cfg.reset_mouth:                                                 # set by training (train.TalkerStage)
            self.register_buffer("mouth_basis", torch.zeros(cfg.num_ws * cfg.w_dim, cfg.mouth_rank))
            self.register_buffer("mouth_centre", torch.zeros(cfg.mouth_rank))

    def base(self, ws_ref: torch.Tensor) -> torch.Tensor:
        """N(W+_ref) [B, K, D]: the code the offsets are added to (W+_ref itself unless ``reset_mouth``)."""
        if not self.cfg.reset_mouth:
            return ws_ref
        U, w = self.mouth_basis, ws_ref.flatten(1)
        return (w - (w @ U - self.mouth_centre) @ U.T).view_as(ws_ref)

    def offsets(self, ws_ref: torch.Tensor, a: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two paths' offsets scattered into full W+ shape: (audio, motion), each [B, T, K, D]."""
        B, T = a.shape[:2]
        full = lambda: a.new_zeros(B, T, self.cfg.num_ws, self.cfg.w_dim)   # noqa: E731
        da, dm = full(), full()
        da[:, :, list(self.audio.layers)] = self.audio(a, ws_ref)
        dm[:, :, list(self.motion.layers)] = self.motion(m, ws_ref)
        return da, dm

    def forward(self, ws_ref: torch.Tensor, a: torch.Tensor, m: torch.Tensor, lip_gain: float = 1.0) -> torch.Tensor:
        """``lip_gain`` scales the audio path's offset (1: as trained, what training always uses); above 1 the lips
        move wider (inference only: :attr:`Talker.default_lip_gain`, ``benchmarks/calibrate_lip_gain.py``)."""
        assert ws_ref.dim() == 3 and a.dim() == 3 and m.dim() == 3 and a.shape[:2] == m.shape[:2], \
            (ws_ref.shape, a.shape, m.shape)
        da, dm = self.offsets(ws_ref, a, m)
        return self.base(ws_ref)[:, None] + lip_gain * da + dm
