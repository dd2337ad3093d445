"""The talker: the conditional sequential VAE around the frozen G_I (paper Fig. 2), without G_I itself.

    ws_ref [B, K, D] (the reference image's inverted code), mel [B, T, 80, 20] (one window per frame)
    motion source: inverted codes of a video ws [B, T, K, D] (posterior) or nothing (the prior samples m_t)
    -> W+_hat [B, T, K, D], rendered by G_I into frames.
"""
from __future__ import annotations

import torch
from torch import nn

from .modules import AudioEncoder, MotionPosterior, TalkerConfig, WManipulation
from .prior import PRIORS, kl_monte_carlo, reparameterise


class Talker(nn.Module):
    """Audio encoder, motion posterior, w manipulation and motion prior, with a reference embedding e_ref."""

    def __init__(self, cfg: TalkerConfig):
        super().__init__()
        self.cfg = cfg
        self.audio = AudioEncoder(cfg)
        self.posterior = MotionPosterior(cfg)
        self.manipulation = WManipulation(cfg)
        self.ref = nn.Sequential(nn.Linear(cfg.num_ws * cfg.w_dim, cfg.hidden), nn.LeakyReLU(0.2))
        if cfg.prior not in PRIORS:
            raise ValueError(f"unknown prior {cfg.prior!r}: one of {', '.join(PRIORS)}")
        if cfg.prior_target not in ("sample", "mean"):
            raise ValueError(f"unknown prior_target {cfg.prior_target!r}: sample or mean")
        self.prior = PRIORS[cfg.prior](cfg)
        # the sampling temperature audio-driven generation uses when none is given: 1 (the prior as fitted), or the
        # one calibrated for this talker and recorded in its metadata (load_talker; benchmarks/calibrate_temperature)
        self.default_temperature = 1.0
        # the scale of the audio path's offset at inference (reenact, drive, generation) when none is given: 1 (as
        # trained), or the one calibrated for this talker on validation clips, where its mouth follows the real one
        # best (load_talker; benchmarks/calibrate_lip_gain.py). Training never scales it.
        self.default_lip_gain = 1.0

    def lip_gain(self, lip_gain: float | None = None) -> float:
        """``lip_gain``, or this talker's default where it is None."""
        return self.default_lip_gain if lip_gain is None else float(lip_gain)

    def compose(self, ws_ref: torch.Tensor, a: torch.Tensor, m: torch.Tensor,
                lip_gain: float | None = None) -> torch.Tensor:
        """W+_hat [B, T, K, D] at inference from the reference's code [B, K, D], audio features a [B, T, A] and motion
        m_t [B, T, M]: the manipulation module with the audio path's offset scaled by ``lip_gain`` (default: this
        talker's calibrated :attr:`default_lip_gain`). What :meth:`reenact`, :meth:`drive` and video generation
        render; training calls ``self.manipulation`` itself, always at gain 1."""
        return self.manipulation(ws_ref, a, m, self.lip_gain(lip_gain))

    def e_ref(self, ws_ref: torch.Tensor) -> torch.Tensor:
        """Identity features of the reference for the prior: [B, K, D] -> [B, hidden]."""
        return self.ref(ws_ref.flatten(1))

    def elbo_terms(self, ws_ref: torch.Tensor, mel: torch.Tensor, ws_video: torch.Tensor,
                   gen: torch.Generator | None = None, keep: torch.Tensor | None = None) -> dict:
        """One pass of the VAE on a training window: posterior sample, prior log-density, KL estimate, W+_hat.

        keep [B] (0 or 1): 0 drops the motion of that window (m_t = 0 in the manipulation, the audio path alone must
        reconstruct it; the KL is still taken). Returns dict(ws_hat [B, T, K, D], m, mu, log_sigma [B, T, M],
        kl [B, T] (Monte Carlo), a [B, T, A])."""
        a = self.audio(mel)
        mu, log_sigma = self.posterior(ws_video, ws_ref)
        m = reparameterise(mu, log_sigma, gen)
        log_p = self.prior.log_prob(m, a, self.e_ref(ws_ref))
        m_used = m if keep is None else m * keep[:, None, None]
        return dict(ws_hat=self.manipulation(ws_ref, a, m_used), m=m, mu=mu, log_sigma=log_sigma, a=a,
                    kl=kl_monte_carlo(m, mu, log_sigma, log_p))

    def motion_log_prob(self, ws_ref: torch.Tensor, mel: torch.Tensor, ws_video: torch.Tensor,
                        gen: torch.Generator | None = None, free_bits: float = 0.0) -> torch.Tensor:
        """The prior's fit to a clip's motion: log p(m_t | m_<t, a, e_ref) at m ~ q(m | ws_video), or at q's mean where
        ``cfg.prior_target`` is "mean", [B, T]. Differentiable in the prior only (the posterior sample and the
        features are taken without gradient).

        The mean is the trajectory the posterior infers, and what motion-controllable mode feeds the manipulation
        module; a sample adds q's noise, drawn independently per frame, which a prior fitted to it learns as spread
        and reproduces as frame-to-frame jitter (session 10, docs/benchmarks.md). For a prior with a style latent this
        is its ELBO per frame (``free_bits``: :meth:`~styletalker.talker.prior.ARPrior.log_prob`)."""
        with torch.no_grad():
            a, e_ref = self.audio(mel), self.e_ref(ws_ref)
            m = self.fitted_motion(ws_video, ws_ref, gen)
        return self.prior.log_prob(m, a, e_ref, gen=gen, free_bits=free_bits)

    @torch.no_grad()
    def fitted_motion(self, ws_video: torch.Tensor, ws_ref: torch.Tensor,
                      gen: torch.Generator | None = None) -> torch.Tensor:
        """The motion a second-stage prior is fitted to, for a window's codes ws_video [B, T, K, D]: q's mean where
        ``cfg.prior_target`` is "mean", else m ~ q (drawn from ``gen``): [B, T, M]."""
        mu, log_sigma = self.posterior(ws_video, ws_ref)
        return mu if self.cfg.prior_target == "mean" else reparameterise(mu, log_sigma, gen)

    @torch.no_grad()
    def motion_of(self, ws_motion: torch.Tensor, ws_motion_ref: torch.Tensor | None = None) -> torch.Tensor:
        """m_t of a motion video: the posterior mean on its codes ws_motion [B, T, K, D] -> [B, T, M].

        The posterior reads the codes relative to the video's *own* reference ``ws_motion_ref`` [B, K, D]
        (default: its first frame), as in training, where both come from one clip: relative to W+_ref of another
        identity the differences would hold the identity change, which the posterior has never seen. m_t is thus
        the motion of the video from its first frame, applied to the reference image from its own pose."""
        ws_motion_ref = ws_motion[:, 0] if ws_motion_ref is None else ws_motion_ref
        return self.posterior(ws_motion, ws_motion_ref)[0]

    @torch.no_grad()
    def reenact(self, ws_ref: torch.Tensor, mel: torch.Tensor, ws_motion: torch.Tensor,
                ws_motion_ref: torch.Tensor | None = None, lip_gain: float | None = None) -> torch.Tensor:
        """Motion-controllable mode: W+_hat [B, T, K, D] with m_t = :meth:`motion_of` the motion video's codes."""
        return self.compose(ws_ref, self.audio(mel), self.motion_of(ws_motion, ws_motion_ref), lip_gain)

    @torch.no_grad()
    def drive(self, ws_ref: torch.Tensor, mel: torch.Tensor, temperature: float = 1.0, state: dict | None = None,
              gen: torch.Generator | None = None, lip_gain: float | None = None) -> tuple[torch.Tensor, dict]:
        """Audio-driven mode: m_t sampled from the prior -> (W+_hat [B, T, K, D], prior state for the next chunk)."""
        a = self.audio(mel)
        m, state = self.prior.sample(a, self.e_ref(ws_ref), temperature, state, gen)
        return self.compose(ws_ref, a, m, lip_gain), state
