"""Priors over motion latents p(m_t | m_<t, a, W+_ref), and the KL term of the sequential ELBO.

The ELBO of the conditional sequential VAE (one clip, frames t = 1..T):

    log p(x | a, W+_ref) >= sum_t E_q[ log p(x_t | m_t, a_t, W+_ref) ] - KL( q(m | x) || p(m | a, W+_ref) ),
    KL = E_q[ sum_t log q(m_t | x) - log p(m_t | m_<t, a_<=t, W+_ref) ].

The autoregressive prior runs a GRU, h_t = GRU(h_{t-1}, [m_{t-1}, a_t, e_ref]), and gives p(m_t | h_t). Here that is
a diagonal Gaussian (the ablation and this issue's prior); issue 7's flow prior pushes a Gaussian through a normalizing
flow with context h_t and implements the same interface:

    prior.log_prob(m, a, e_ref)                     -> [B, T]      (teacher forcing with m_{t-1})
    prior.sample(a, e_ref, temperature, state, gen) -> (m [B, T, M], state)   (state carries across chunks)

:func:`kl_monte_carlo` is the one KL code path for any such prior: log q(m) - log p(m) at samples m ~ q. For the
Gaussian prior, :func:`kl_gaussian` gives the analytic value, used to check the estimator. Both priors share the
GRU (:class:`ARPrior`); they differ only in p(m_t | h_t).

Residual priors (``TalkerConfig.prior_residual``) model the step from an anchor instead of m_t itself:

    x_t = m_t - b_t,   b_t = (1 - k) * m_(t-1),   p(m_t | h_t) = p_x(m_t - b_t | h_t)

a shift by a quantity known from the past, so the log-density is the same number (the Jacobian of a shift is 1) and
sampling adds the drawn x_t to b_t. With k = 0 that is the plain step m_t - m_(t-1): a GRU must otherwise *learn* to
copy m_(t-1) through its state, and where it copies badly the prior's spread holds the copy error, so samples jitter
from frame to frame though the motion they imitate is smooth (session 9: step 0.61 against the posterior mean's 0.12).
A learnt pull k in (0, 1) per motion dimension (k = sigmoid(``pull``)) makes the sampled motion a stationary,
Ornstein-Uhlenbeck-like sway around a resting pose (the mean of x_t over k, held by the head's bias): training windows
are 32 frames, a generated video can be minutes, and a pure random walk drifts without bound (session 10: |m_t|
doubled within 100 frames). As |m_t| <= max |x| / k, the motion stays bounded however long the audio.
That bound holds only while x_t is bounded: session 17's priors learnt k ~ 0.05 and a scale that grows once their own
samples leave the training range, and ran away after 4-6 s. Since session 19 the prior stage also trains at the
states the prior's own free walks reach, and teaches the step to point back in at the range's edge (the edge term of
:class:`~styletalker.talker.train.PriorStage`; :meth:`ARPrior.walk` and :meth:`ARPrior.step_from`), which keeps the
walk bounded by itself; sampling still keeps m_t in a box as a guard (:meth:`ARPrior.motion_box`, session 18).

The last step as an input (``TalkerConfig.prior_step_input``, session 17): the GRU also reads the step it just took,
d_(t-1) = m_(t-1) - m_(t-2), scaled by ``STEP_GAIN``:

    h_t = GRU(h_(t-1), [m_(t-1), a_t, e_ref, STEP_GAIN * d_(t-1)])

a function of inputs it already had (m_(t-1) now and m_(t-2) one frame earlier), so the model is the one issue 7
names; what changes is that the GRU no longer has to difference two nearly equal values through its state. Without
it the fitted priors ignored their history: under teacher forcing on training clips, the flow's scale sigma(h_t) was
0.042 for still, nodding and turning clips alike, and its mean predicted none of the step (|x - mu| = |x|), although
a still clip's steps are half a nodding one's. Every sample then moved with the same average amplitude, so few were
still (``docs/benchmarks.md``, issue 7, session 17). Motion is smooth, so the last step predicts the next, and its size
tells the prior which speaking style the sample has fallen into.

Standardised inputs (``TalkerConfig.prior_input_norm``, session 17): the GRU reads its input as (x - mean) / std
per feature, with the statistics measured on the training windows before the fit
(:func:`styletalker.talker.train.fit_prior_inputs`; buffers saved with the weights). The raw inputs differ in scale
by three orders of magnitude on the shipped talker: e_ref has an rms of 13.1, m_t 0.21, a_t 0.02. The identity
features saturated a third of the GRU's units and the audio was too faint to matter, so the prior could not learn
from its history or the speech what the next step should be.

A per-sample style latent (``TalkerConfig.prior_style`` = C dimensions, session 27; 2 in the shipped flow, none in the
shipped Gaussian): the GRU also reads c ~ p(c), drawn once per video and kept across its chunks,

    h_t = GRU(h_(t-1), [standardised inputs, c]),   p(m | a, e_ref) = integral of p(c) p(m | c, a, e_ref) dc

so the speaking style (still, nodding, turning) can be chosen once for a whole sample instead of being inferred, frame
by frame, from the prior's own last steps, which its sampling noise inflates (session 26: the priors' per-sample
speeds spanned a narrower range than the data's, and long samples sped up). It is fitted as a small VAE inside the
prior stage: q(c | m) reads a training window's mean, spread and mean step per motion dimension
(:meth:`ARPrior.style_posterior`), and :meth:`ARPrior.log_prob` returns the ELBO, so held-out NLLs of such a prior
are upper bounds. Free bits keep the fit from ignoring c (:meth:`ARPrior.log_prob`). Fitted against N(0, I), q puts
some styles far out in its tails (session 27: still clips at 3 standard deviations on one axis), where N(0, I) would
seldom draw them. So after the fit p(c) becomes the aggregate posterior (``prior_style_mix`` = K): an equal mixture
of q(c | m) over K training windows (:func:`~styletalker.talker.train.fit_style_prior`), the prior that makes the
ELBO tightest for the q it has, estimated after the fact as in two-stage VAEs; its KL is then taken by Monte Carlo.

The noise's own context (``TalkerConfig.prior_noise_context`` = "style", session 27, the shipped flow's; the default,
"history", is issue 7's p(m_t | h_t) and the shipped Gaussian's): the mean mu reads h_t, the scale sigma and the
flow's splines read only [a_t, e_ref, c] (standardised), which sampling does not feed back into:

    m_t = b_t + mu(h_t) + sigma(a_t, e_ref, c) * g^-1(T z; a_t, e_ref, c),   z ~ N(0, I)

Session 27 traced the long-audio speed-up to the noise: over a 1,500-frame sample of the flow shipped before, at 0.85,
the mean step mu moved from 0.06 to 0.10 but the drawn deviation x_t - mu from 0.12 to 0.19, as sigma(h_t) and the
splines' widths grew with the history the sample had made for itself; with step noise and c, mu stayed flat (0.055 ->
0.064) and the deviation still rose (0.10 -> 0.15). With this context the per-frame noise is set by the sample's style
and the speech, not by its own past; on test audio the shipped flow's step stays at 0.14-0.17 over 960 frames, the
posterior's 0.14-0.16 (docs/benchmarks.md, issue 7, session 27).

Noise on the last step (``TalkerTrainConfig.step_noise``, session 27; training only): under teacher forcing the GRU
reads the posterior's smooth steps and learns to carry the last step's size on; in sampling the step it reads holds
its own sampling noise, which it then carries on too, so long samples speed up (session 25). Adding N(0, s^2) to the
standardised step it reads while fitting teaches it to read the step as a noisy hint and take the sample's speed from
its longer history, and from c where there is one. With c alone it kept the mean step flat, not the noise (session
27); with the noise's own context above the noise stays flat too, and what still grows, after about 500 frames, is
the mean step (docs/benchmarks.md, issue 7, session 27).
"""
from __future__ import annotations

import functools
import math

import torch
from torch import nn

from .modules import TalkerConfig

LOG_2PI = math.log(2 * math.pi)
STEP_GAIN = 10.0      # steps of the posterior mean are 0.01-0.03 per dimension, about a tenth of m_t's own values


def gaussian_log_prob(x: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """log N(x; mu, sigma^2) summed over the last axis: [..., M] -> [...]."""
    return (-0.5 * ((x - mu) / log_sigma.exp()) ** 2 - log_sigma - 0.5 * LOG_2PI).sum(-1)


def kl_gaussian(mu_q, log_sigma_q, mu_p, log_sigma_p) -> torch.Tensor:
    """KL(N(mu_q, sigma_q^2) || N(mu_p, sigma_p^2)) for diagonal Gaussians, summed over the last axis:
    log(sigma_p / sigma_q) + (sigma_q^2 + (mu_q - mu_p)^2) / (2 sigma_p^2) - 1/2."""
    var_q, var_p = (2 * log_sigma_q).exp(), (2 * log_sigma_p).exp()
    return (log_sigma_p - log_sigma_q + (var_q + (mu_q - mu_p) ** 2) / (2 * var_p) - 0.5).sum(-1)


def kl_monte_carlo(m: torch.Tensor, mu_q: torch.Tensor, log_sigma_q: torch.Tensor, log_p: torch.Tensor
                   ) -> torch.Tensor:
    """KL estimate log q(m) - log p(m) at samples m ~ q: m, mu_q, log_sigma_q [B, T, M], log_p [B, T] -> [B, T].

    Unbiased for the KL; a single sample can be negative, its expectation is not."""
    return gaussian_log_prob(m, mu_q, log_sigma_q) - log_p


def standard_normal(like: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """N(0, I) noise shaped like ``like``, on its device: drawn from ``gen`` on the generator's own device (a CPU
    generator drives a model on the GPU: the same seed gives the same noise on either), or from the global stream."""
    if gen is None:
        return torch.randn_like(like)
    return torch.randn(like.shape, generator=gen, device=gen.device, dtype=like.dtype).to(like.device)


def reparameterise(mu: torch.Tensor, log_sigma: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """m = mu + sigma * eps, eps ~ N(0, I) (differentiable in mu and sigma)."""
    return mu + log_sigma.exp() * standard_normal(mu, gen)


class ARPrior(nn.Module):
    """The autoregressive part shared by both priors: h_t = GRU(h_{t-1}, [m_{t-1}, a_t, e_ref]). A subclass says what
    p(x_t | h_t) is through ``conditional_log_prob(x, h)`` and ``conditional_sample(h, temperature, gen)``, where x_t
    is m_t, or its step from the anchor b_t for a residual prior."""

    def __init__(self, cfg: TalkerConfig, ref_dim: int | None = None):
        super().__init__()
        self.cfg = cfg
        self.residual = cfg.prior_residual
        if self.residual:                  # the anchor's pull k = sigmoid(pull), per motion dimension (docstring)
            self.pull = nn.Parameter(torch.full((cfg.motion_dim,), -3.0))
        self.ref_dim = ref_dim or cfg.hidden
        self.step_input = cfg.prior_step_input
        # the GRU's input: [m_(t-1), a_t, e_ref] and, with step_input, the last step last (module docstring)
        n_in = cfg.motion_dim * (2 if self.step_input else 1) + cfg.audio_dim + self.ref_dim
        self.input_norm = cfg.prior_input_norm
        self.style_dim = cfg.prior_style
        if self.style_dim and not (self.input_norm and self.step_input):
            raise ValueError("a style latent (prior_style > 0) needs prior_input_norm and prior_step_input: its "
                             "encoder reads the window's motion and steps standardised")
        # the style latent c comes after the standardised inputs: it is N(0, I) already (module docstring)
        self.cell = nn.GRUCell(n_in + self.style_dim, cfg.hidden)
        if cfg.prior_noise_context not in ("history", "style"):
            raise ValueError(f"unknown prior_noise_context {cfg.prior_noise_context!r}: history or style")
        self.noise_from_style = cfg.prior_noise_context == "style"
        if self.noise_from_style and not self.input_norm:
            raise ValueError("prior_noise_context 'style' needs prior_input_norm: the noise reads the standardised "
                             "audio and identity features")
        # what the noise reads where it does not read h_t: a_t, e_ref (standardised) and c (module docstring)
        self.noise_dim = cfg.audio_dim + self.ref_dim + self.style_dim
        if self.input_norm:             # per-feature mean and std of the raw input, set by fit_prior_inputs
            self.register_buffer("in_mean", torch.zeros(n_in))
            self.register_buffer("in_std", torch.ones(n_in))
        if self.style_dim:              # q(c | a window's motion): from its mean, spread and mean step per dimension
            self.style_net = nn.Sequential(nn.Linear(3 * cfg.motion_dim, cfg.hidden), nn.LeakyReLU(0.2),
                                           nn.Linear(cfg.hidden, 2 * self.style_dim))
        if self.style_dim and cfg.prior_style_mix:    # p(c) after the fit: all zeros is N(0, I) (module docstring)
            self.register_buffer("style_mu", torch.zeros(cfg.prior_style_mix, self.style_dim))
            self.register_buffer("style_log_sigma", torch.zeros(cfg.prior_style_mix, self.style_dim))
        # training only (set by the prior stage, not saved): noise on the standardised last step the GRU reads, in
        # its units, drawn from noise_gen (module docstring)
        self.step_noise, self.noise_gen = 0.0, None

    def init_state(self, batch: int, device=None) -> dict:
        """The state before the first frame: h = 0 and m_0 = m_(-1) = 0 (the resting pose)."""
        return dict(h=torch.zeros(batch, self.cfg.hidden, device=device),
                    m=torch.zeros(batch, self.cfg.motion_dim, device=device),
                    m2=torch.zeros(batch, self.cfg.motion_dim, device=device))

    def raw_input(self, prev: torch.Tensor, prev2: torch.Tensor, a: torch.Tensor, e_ref: torch.Tensor
                  ) -> torch.Tensor:
        """The GRU's input before standardisation from m_(t-1), m_(t-2), a_t and e_ref ([..., .] each, e_ref
        broadcast over any time axis): [..., inputs]."""
        e_ref = e_ref.expand(*a.shape[:-1], e_ref.shape[-1])
        parts = [prev, a, e_ref] + ([STEP_GAIN * (prev - prev2)] if self.step_input else [])
        return torch.cat(parts, -1)

    def cell_input(self, prev, prev2, a, e_ref, c: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`raw_input`, standardised where the config says so, then the style latent c [..., C] where the
        prior has one (None: c = 0, the style prior's mean): what the GRU reads."""
        x = self.raw_input(prev, prev2, a, e_ref)
        x = (x - self.in_mean) / self.in_std if self.input_norm else x
        if self.training and self.step_noise > 0 and self.step_input:
            M = self.cfg.motion_dim
            noise = self.step_noise * standard_normal(x[..., -M:], self.noise_gen)
            x = torch.cat([x[..., :-M], x[..., -M:] + noise], -1)
        if not self.style_dim:
            return x
        c = x.new_zeros(self.style_dim) if c is None else c
        return torch.cat([x, c.expand(*x.shape[:-1], self.style_dim)], -1)

    def teacher_inputs(self, m: torch.Tensor, a: torch.Tensor, e_ref: torch.Tensor, state: dict | None = None,
                       raw: bool = False, c: torch.Tensor | None = None) -> torch.Tensor:
        """The GRU's input at every t under teacher forcing (m_(t-1), m_(t-2) from m; c [B, C] the style latent):
        [B, T, inputs]. ``raw``: before standardisation, without c."""
        state = state or self.init_state(a.shape[0], a.device)
        prev = self.previous(m, state)
        prev2 = self.previous(prev, dict(m=state.get("m2", torch.zeros_like(state["m"]))))
        if raw:
            return self.raw_input(prev, prev2, a, e_ref[:, None])
        return self.cell_input(prev, prev2, a, e_ref[:, None], None if c is None else c[:, None])

    def style_features(self, m: torch.Tensor) -> torch.Tensor:
        """What q(c | m) reads of a window's motion m [B, T, M] (T >= 2): per dimension, the mean and spread of m_t
        and the mean size of its steps, each standardised by the training statistics the GRU's inputs use: [B, 3M]."""
        M = self.cfg.motion_dim
        z = (m - self.in_mean[:M]) / self.in_std[:M]
        step = STEP_GAIN * (m[:, 1:] - m[:, :-1]) / self.in_std[-M:]
        return torch.cat([z.mean(1), z.std(1), step.abs().mean(1)], -1)

    def style_posterior(self, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(c | m) = N(mu, sigma^2) for a window's motion m [B, T, M]: (mu, log_sigma) [B, C] each."""
        mu, log_sigma = self.style_net(self.style_features(m)).chunk(2, -1)
        return mu, log_sigma.clamp(-7.0, 2.0)

    def contexts(self, m: torch.Tensor, a: torch.Tensor, e_ref: torch.Tensor, state: dict | None = None,
                 c: torch.Tensor | None = None) -> torch.Tensor:
        """The context of p(m_t | .) for every t under teacher forcing (m_{t-1} from m; c [B, C] the style latent,
        where the prior has one: None means 0): h_t [B, T, hidden], followed by the noise's own inputs where the noise
        does not read h_t (:meth:`context`)."""
        state = state or self.init_state(a.shape[0], a.device)
        x = self.teacher_inputs(m, a, e_ref, state, c=c)
        h, hs = state["h"], []
        for t in range(a.shape[1]):
            h = self.cell(x[:, t], h)
            hs.append(h)
        return self.context(torch.stack(hs, 1), x)

    def context(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """What p(m_t | .) reads, from h_t [..., hidden] and the GRU's input x_t [..., inputs] at the same frame: h_t
        itself, or with ``prior_noise_context`` "style" h_t followed by the standardised a_t and e_ref and c (the
        noise's scale and shape read those alone: module docstring)."""
        if not self.noise_from_style:
            return h
        M, A = self.cfg.motion_dim, self.cfg.audio_dim
        parts = [h, x[..., M:M + A + self.ref_dim]] + ([x[..., -self.style_dim:]] if self.style_dim else [])
        return torch.cat(parts, -1)

    def previous(self, m: torch.Tensor, state: dict | None = None) -> torch.Tensor:
        """m_(t-1) for every t: m shifted one frame, the state's last m (zeros at the start) first: [B, T, M]."""
        first = (state or self.init_state(m.shape[0], m.device))["m"]
        return torch.cat([first[:, None].to(m.dtype), m[:, :-1]], 1)

    def anchor(self, prev: torch.Tensor) -> torch.Tensor:
        """b_t from m_(t-1) [..., M]: (1 - k) m_(t-1) for a residual prior, 0 otherwise."""
        if not self.residual:
            return torch.zeros_like(prev)
        return prev * torch.sigmoid(-self.pull)                             # 1 - sigmoid(p) = sigmoid(-p)

    def log_prob(self, m: torch.Tensor, a: torch.Tensor, e_ref: torch.Tensor, state: dict | None = None,
                 gen: torch.Generator | None = None, free_bits: float = 0.0) -> torch.Tensor:
        """log p(m_t | m_<t, a_<=t, e_ref): m [B, T, M], a [B, T, A], e_ref [B, E] -> [B, T].

        With a style latent (module docstring) the exact value is an integral over c, so this returns the ELBO
        spread evenly over the frames: log p(m_t | m_<t, c, a, e_ref) at one c ~ q(c | m) (drawn from ``gen``)
        minus KL(q(c | m) || p(c)) / T, whose sum over t is at most log p(m | a, e_ref). The KL is exact against
        N(0, I) and a one-sample estimate, log q(c | m) - log p(c), against a fitted mixture (:meth:`style_mixture`).
        ``free_bits`` > 0 (training against N(0, I)) counts each dimension's KL, averaged over the batch, as at least
        that many nats, so the fit cannot make c carry nothing (a gradient reaches q only where it is above)."""
        c = kl = None
        if self.style_dim:
            mu, log_sigma = self.style_posterior(m)
            c = reparameterise(mu, log_sigma, gen)
            if self.style_mixture() is not None:        # log q(c | m) - log p(c) at the drawn c: KL's estimate
                kl = gaussian_log_prob(c, mu, log_sigma) - self.style_log_prior(c)
            else:
                zero = torch.zeros_like(mu[..., None])           # per dimension: [B, C], KL to N(0, I)
                kl = kl_gaussian(mu[..., None], log_sigma[..., None], zero, zero)
                if free_bits > 0:
                    kl = torch.where(kl.mean(0) > free_bits, kl, torch.full_like(kl, free_bits))
                kl = kl.sum(-1)
        h = self.contexts(m, a, e_ref, state, c)
        x = m - self.anchor(self.previous(m, state))
        lp = self.conditional_log_prob(x.flatten(0, 1), h.flatten(0, 1)).view(m.shape[:2])
        return lp if kl is None else lp - kl[:, None] / m.shape[1]

    def style_mixture(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The fitted style prior's components (mu, log_sigma) [K, C] each, or None where p(c) is N(0, I) (no
        mixture in the config, or not fitted yet: all zeros)."""
        if not (self.style_dim and self.cfg.prior_style_mix):
            return None
        if not (self.style_mu.any() or self.style_log_sigma.any()):
            return None
        return self.style_mu, self.style_log_sigma

    def style_log_prior(self, c: torch.Tensor) -> torch.Tensor:
        """log p(c) [B] for c [B, C]: the fitted mixture's (equal weights), or N(0, I)'s."""
        mix = self.style_mixture()
        if mix is None:
            return gaussian_log_prob(c, torch.zeros_like(c), torch.zeros_like(c))
        per = gaussian_log_prob(c[:, None], mix[0], mix[1])                                    # [B, K]
        return torch.logsumexp(per, -1) - math.log(per.shape[1])

    @torch.no_grad()
    def sample(self, a: torch.Tensor, e_ref: torch.Tensor, temperature: float = 1.0, state: dict | None = None,
               gen: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
        """Autoregressive sampling with the base noise scaled by ``temperature``. Returns m [B, T, M] and the state
        after the last frame (pass it to the next chunk for seamless long audio)."""
        m, state, _ = self.walk(a, e_ref, temperature, state, gen)
        return m, state

    @torch.no_grad()
    def walk(self, a: torch.Tensor, e_ref: torch.Tensor, temperature: float = 1.0, state: dict | None = None,
             gen: torch.Generator | None = None, box: bool = True) -> tuple[torch.Tensor, dict, dict]:
        """:meth:`sample` (``box``: kept in :meth:`motion_box`, else free), also returning the state each frame was
        drawn from: dict(h, m, m2) of [B, T, .] each (h_(t-1), m_(t-1), m_(t-2)), which the edge term of
        :class:`~styletalker.talker.train.PriorStage` trains at."""
        if temperature <= 0:
            raise ValueError(f"temperature {temperature} must be > 0")
        B, T = a.shape[:2]
        state = state or self.init_state(B, a.device)
        h, prev, out = state["h"], state["m"], []
        prev2 = state.get("m2", torch.zeros_like(prev))
        c = self.draw_style(state, gen)
        limits = self.motion_box() if box else None
        seen = dict(h=[], m=[], m2=[]) | (dict(c=[]) if c is not None else {})
        for t in range(T):
            for k, v in (("h", h), ("m", prev), ("m2", prev2), ("c", c)):
                if k in seen:
                    seen[k].append(v)
            xin = self.cell_input(prev, prev2, a[:, t], e_ref, c)
            h = self.cell(xin, h)
            x = self.conditional_sample(self.context(h, xin), temperature, gen)
            prev, prev2 = self.anchor(prev) + x, prev
            if limits is not None:
                prev = torch.minimum(torch.maximum(prev, limits[0]), limits[1])
            out.append(prev)
        after = dict(h=h, m=prev, m2=prev2) | (dict(c=c) if c is not None else {})
        return torch.stack(out, 1), after, {k: torch.stack(v, 1) for k, v in seen.items()}

    def draw_style(self, state: dict, gen: torch.Generator | None = None) -> torch.Tensor | None:
        """The style latent c [B, C] a sample keeps for its whole length: the state's (a later chunk of the same
        video), else drawn from p(c) (N(0, I), or the fitted mixture: :meth:`style_log_prior`), at every temperature
        (the temperature scales the per-frame noise, not the choice of style); None for a prior without one."""
        if not self.style_dim:
            return None
        if state.get("c") is not None:
            return state["c"]
        eps = standard_normal(state["m"].new_empty(state["m"].shape[0], self.style_dim), gen)
        mix = self.style_mixture()
        if mix is None:
            return eps
        pick = torch.randint(mix[0].shape[0], (eps.shape[0],), generator=gen,
                             device=None if gen is None else gen.device)
        pick = pick.to(eps.device)
        return mix[0][pick] + mix[1][pick].exp() * eps

    def step_from(self, seen: dict, a: torch.Tensor, e_ref: torch.Tensor, temperature: float = 1.0,
                  gen: torch.Generator | None = None) -> torch.Tensor:
        """One differentiable sampling step from given states (``seen`` of :meth:`walk`, flattened to [N, .] with
        a [N, A], e_ref [N, E]): m_t [N, M]. Gradient reaches the GRU's last step, the head, the flow and the pull."""
        xin = self.cell_input(seen["m"], seen["m2"], a, e_ref, seen.get("c"))
        h = self.cell(xin, seen["h"])
        return self.anchor(seen["m"]) + self.conditional_sample(self.context(h, xin), temperature, gen)

    def motion_box(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(low, high) [M] each, the box :meth:`sample` keeps m_t in: the training windows' mean of m_t +- ``prior_box``
        standard deviations per dimension (the statistics :func:`~styletalker.talker.train.fit_prior_inputs` measured),
        or None (``prior_box`` = 0, or a prior without those statistics).

        A safeguard found in session 18: session 17's flow priors, fitted by teacher forcing on 32-frame windows,
        drift when fed their own samples. After 100-140 frames (4-6 s) |m_t| left the posterior's range (0.5-0.9)
        and reached 30-140 within 3,000 frames. Several dimensions of m_t hardly vary over training clips (std
        0.013-0.034), and once a sample walks out of that range the GRU reads inputs tens of standard deviations out,
        its scale sigma(h_t) grows and the walk runs away; the manipulation module then draws noise. Kept within 4
        standard deviations, |m_t| stays under 2 over 3,000 frames (docs/benchmarks.md, issue 7, session 18). It
        does not make the dynamics stable, it only keeps them where the manipulation module was trained; the cure,
        since session 19, is the prior stage's edge term (:class:`~styletalker.talker.train.PriorStage`); the box
        stays on as a guard (sampled without it over 5 minutes, session 18's flow was outside the box in 99.5 % of
        frames, session 19's in 2-2.6 %)."""
        c = self.cfg.prior_box
        if not (c > 0 and self.input_norm):
            return None
        mean, std = self.motion_stats()
        return mean - c * std, mean + c * std

    def motion_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std) [M] each of m_t over the training windows: the m_(t-1) part of the input statistics
        (``in_mean``, ``in_std``; the GRU's input starts with m_(t-1)), which the box and the prior stage's edge term
        measure m_t against."""
        if not self.input_norm:
            raise ValueError("this prior has no training statistics (prior_input_norm is off)")
        M = self.cfg.motion_dim
        return self.in_mean[:M], self.in_std[:M]

    def conditional_log_prob(self, m: torch.Tensor, h: torch.Tensor) -> torch.Tensor:   # [N, M], [N, H] -> [N]
        raise NotImplementedError

    def conditional_sample(self, h: torch.Tensor, temperature: float, gen) -> torch.Tensor:  # [N, H] -> [N, M]
        raise NotImplementedError


class GaussianARPrior(ARPrior):
    """p(m_t | h_t) = N(mu(h_t), sigma(h_t)^2): the ablation's prior (and issue 6's)."""

    def __init__(self, cfg: TalkerConfig, ref_dim: int | None = None):
        super().__init__(cfg, ref_dim)
        M = cfg.motion_dim
        if self.noise_from_style:                         # mu from h_t, log sigma from the noise's own inputs
            self.head = nn.Linear(cfg.hidden, M)
            self.scale_head = nn.Linear(self.noise_dim, M)
        else:
            self.head = nn.Linear(cfg.hidden, 2 * M)

    def params(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, log sigma) [..., M] each from the context (:meth:`ARPrior.context`)."""
        if self.noise_from_style:
            H = self.cfg.hidden
            return self.head(h[..., :H]), self.scale_head(h[..., H:]).clamp(-7, 2)
        mu, log_sigma = self.head(h).chunk(2, -1)
        return mu, log_sigma.clamp(-7, 2)

    def distribution(self, m, a, e_ref, state=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, log sigma) of p(m_t | m_<t, a, e_ref) for every t (at c = 0 for a prior with a style latent): [B, T, M]
        each."""
        mu, log_sigma = self.params(self.contexts(m, a, e_ref, state))
        return mu + self.anchor(self.previous(m, state)), log_sigma

    def conditional_log_prob(self, m, h):
        mu, log_sigma = self.params(h)
        return gaussian_log_prob(m, mu, log_sigma)

    def conditional_sample(self, h, temperature, gen):
        mu, log_sigma = self.params(h)
        return reparameterise(mu, log_sigma + math.log(temperature), gen)


@functools.cache
def _zuko_parts():
    """zuko's coupling layer and rational-quadratic spline, with their shape broadcasting skipped where the shapes
    already agree, which is always the case here.

    zuko broadcasts with ``torch.broadcast_shapes``, whose first call in a process imports
    ``torch.fx.experimental.symbolic_shapes`` and sympy: 0.3-0.7 s that every ``styletalker generate`` paid on its
    first sampled frame (about 6 % of an 8-second sentence's time). In this prior the context h_t and the coupling's
    input share their batch shape, and so do the spline's knots and its inputs (the coupling network makes both from
    one input). Where they agree, these subclasses concatenate or gather directly: the same numbers (tested against
    zuko's own path), no import. Other shapes go through zuko unchanged. Subclasses keep checkpoints as they were: the
    weights live in the coupling's hyper-network either way, and the spline holds none.
    """
    from zuko.flows import GeneralCouplingTransform
    from zuko.transforms import MonotonicRQSTransform

    class Spline(MonotonicRQSTransform):
        def bin(self, k):
            if self.horizontal.shape[:-1] != k.shape:
                return super().bin(k)
            inside = (k >= 0) & (k < self.bins)
            k = k % self.bins
            both = torch.stack((k, k + 1), dim=-1)                              # [*, 2] left and right knots
            (x0, x1), (y0, y1), (d0, d1) = [t.gather(-1, both).unbind(-1)
                                            for t in (self.horizontal, self.vertical, self.derivatives)]
            return inside, x0, x1, y0, y1, d0, d1, (y1 - y0) / (x1 - x0)

    class Coupling(GeneralCouplingTransform):
        def meta(self, c, x):
            if c is not None and c.shape[:-1] == x.shape[:-1]:
                return super().meta(None, torch.cat((x, c), dim=-1))
            return super().meta(c, x)

    return Coupling, Spline


class FlowARPrior(GaussianARPrior):
    """p(m_t | h_t): a standard normal z pushed through a conditional normalizing flow with context h_t (issue 7).

        u = (m - mu(h)) / sigma(h)                     the Gaussian prior's location-scale, kept as the flow's last step
        z = g(u; h)                                    zuko rational-quadratic spline couplings (neural spline flow)
        log p(m | h) = log N(z; 0, I) + log|det dg/du| - sum log sigma(h)

    With g the identity this *is* the Gaussian AR prior; the splines let p(m_t | h_t) be multi-modal (nodding or
    still for the same words) where a Gaussian must put its mass between the modes. Temperature scales z's spread.
    Splines act on [-5, 5] and are the identity outside; u is standardised, so that interval covers it.

    Couplings, not zuko's default autoregressive NSF: sampling inverts the flow once per frame, and a coupling layer
    inverts in one pass where an autoregressive one needs ``motion_dim`` passes (16x slower; real time matters here).
    Alternating masks make every coordinate transformed, conditioned on the others and on h_t.
    """

    def __init__(self, cfg: TalkerConfig, ref_dim: int | None = None, bins: int = 8):
        super().__init__(cfg, ref_dim)
        from zuko.distributions import DiagNormal
        from zuko.flows import Flow, UnconditionalDistribution
        Coupling, Spline = _zuko_parts()
        M = cfg.motion_dim
        ctx = self.noise_dim if self.noise_from_style else cfg.hidden           # the flow reads what the scale reads
        layers = [Coupling(M, ctx, mask=torch.arange(M) % 2 == i % 2, univariate=Spline,
                           shapes=[(bins,), (bins,), (bins - 1,)], hidden_features=[cfg.hidden, cfg.hidden])
                  for i in range(cfg.flow_transforms)]
        self.flow = Flow(layers, UnconditionalDistribution(DiagNormal, torch.zeros(M), torch.ones(M), buffer=True))

    def flow_context(self, h: torch.Tensor) -> torch.Tensor:
        """The flow's context from the prior's (:meth:`ARPrior.context`): h_t, or the noise's own inputs."""
        return h[..., self.cfg.hidden:] if self.noise_from_style else h

    def conditional_log_prob(self, m, h):
        mu, log_sigma = self.params(h)
        u = (m - mu) / log_sigma.exp()
        return self.flow(self.flow_context(h)).log_prob(u) - log_sigma.sum(-1)

    def conditional_sample(self, h, temperature, gen):
        mu, log_sigma = self.params(h)
        z = temperature * standard_normal(mu, gen)
        return mu + log_sigma.exp() * self.flow(self.flow_context(h)).transform.inv(z)


PRIORS = {"gaussian": GaussianARPrior, "flow": FlowARPrior}
