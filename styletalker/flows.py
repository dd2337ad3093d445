"""A teaching-size normalizing-flow toolkit: affine coupling layers (RealNVP, Dinh et al. 2017), a 2-D toy, a fit loop.

StyleTalker's audio-driven mode samples head motion from an autoregressive prior whose per-frame density
p(m_t | h_t) is a base Gaussian pushed through a normalizing flow with context h_t. The project's prior
(``styletalker.talker.prior``) is built on zuko; this module builds the same idea from scratch, small enough to read
in one sitting, so that notebook 06 can derive it, check it against autograd and against zuko, and show on a 2-D
toy why a Gaussian averages modes and a flow does not.

A flow is an invertible map f from data x to a base variable z with a simple density (here N(0, I)). By the change
of variables,

    log p_x(x) = log p_z(f(x)) + log |det df/dx|,                 (1)

and a sample is x = f^{-1}(z), z ~ N(0, I). A composition f = f_K o ... o f_1 adds the log-determinants of its
parts. The affine coupling layer makes both (1) and f^{-1} cheap: split x = (x_a, x_b),

    z_a = x_a,    z_b = x_b * exp(s(x_a, c)) + t(x_a, c),    log |det df/dx| = sum_j s_j(x_a, c),

with s and t any network of x_a (and an optional context c, which makes the flow conditional: p(x | c)). Its
Jacobian is triangular, so the determinant is the product of the diagonal exp(s). A fixed permutation between
layers lets every coordinate be transformed by some layer. Our reconstruction choices: the log-scale is soft-bounded,
s = B tanh(s_raw / B), so a fresh or badly conditioned layer cannot blow up exp(s); the last layer of each MLP starts
at zero, so an untrained flow is the identity and log p_x starts as the base density.
"""
from __future__ import annotations

import math

import torch
from torch import nn

LOG_2PI = math.log(2 * math.pi)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last axis: [..., D] -> [...]."""
    return (-0.5 * z ** 2 - 0.5 * LOG_2PI).sum(-1)


class AffineCoupling(nn.Module):
    """One RealNVP affine coupling layer, x -> z (data to base direction).

    The first ``split`` coordinates x_a pass through; the rest are scaled and shifted by an MLP of [x_a, c]:
    z_b = x_b * exp(s) + t. With ``split = 0`` (e.g. a 1-D variable) the MLP sees only the context c, and the layer is
    a context-dependent affine map.
    """

    def __init__(self, dim: int, hidden: int = 64, context: int = 0, split: int | None = None,
                 scale_bound: float = 2.0):
        super().__init__()
        self.dim = dim                                         # D, features of x
        self.split = dim // 2 if split is None else split      # d, coordinates that pass through (x_a)
        self.context = context                                 # C, features of the context (0: unconditional)
        self.scale_bound = scale_bound                         # B in s = B tanh(s_raw / B)
        if not 0 <= self.split < dim:
            raise ValueError(f"split {self.split} must be in [0, {dim})")
        if self.split + context == 0:
            raise ValueError("a coupling layer needs pass-through coordinates or a context to condition on")
        n_b = dim - self.split
        self.net = nn.Sequential(
            nn.Linear(self.split + context, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, 2 * n_b))                        # (s_raw, t) for the n_b transformed coordinates
        nn.init.zeros_(self.net[-1].weight)                    # start as the identity map
        nn.init.zeros_(self.net[-1].bias)

    def _scale_shift(self, x_a: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.context:
            if c is None or c.shape[-1] != self.context:
                raise ValueError(f"this layer needs a context of {self.context} features, got "
                                 f"{None if c is None else tuple(c.shape)}")
            x_a = torch.cat([x_a, c.expand(*x_a.shape[:-1], self.context)], -1)
        s_raw, t = self.net(x_a).chunk(2, -1)
        s = self.scale_bound * torch.tanh(s_raw / self.scale_bound)      # soft bound: |s| < B
        return s, t

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x [N, D] (and c [N, C]) -> z [N, D], log |det dz/dx| [N]."""
        assert x.shape[-1] == self.dim, (x.shape, self.dim)
        x_a, x_b = x[..., :self.split], x[..., self.split:]
        s, t = self._scale_shift(x_a, c)
        z_b = x_b * s.exp() + t
        return torch.cat([x_a, z_b], -1), s.sum(-1)

    def inverse(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """z [N, D] (and c [N, C]) -> x [N, D]: x_b = (z_b - t) exp(-s), with s, t from z_a = x_a."""
        assert z.shape[-1] == self.dim, (z.shape, self.dim)
        z_a, z_b = z[..., :self.split], z[..., self.split:]
        s, t = self._scale_shift(z_a, c)
        return torch.cat([z_a, (z_b - t) * (-s).exp()], -1)


class Permute(nn.Module):
    """A fixed permutation of the features (default: reverse them, the 'flip' between coupling layers).
    |det| = 1, so its log-determinant is 0."""

    def __init__(self, dim: int, perm: torch.Tensor | None = None):
        super().__init__()
        perm = torch.arange(dim - 1, -1, -1) if perm is None else torch.as_tensor(perm)
        assert sorted(perm.tolist()) == list(range(dim)), perm
        self.register_buffer("perm", perm)
        self.register_buffer("inv_perm", torch.argsort(perm))

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x [N, D] -> (x[:, perm] [N, D], zeros [N])."""
        return x[..., self.perm], x.new_zeros(x.shape[:-1])

    def inverse(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return z[..., self.inv_perm]


class CouplingFlow(nn.Module):
    """f = (Permute o AffineCoupling)^K with a standard-normal base: log_prob(x | c) by (1), sample by f^{-1}(z).

    For D = 1 (no coordinates to split) each coupling layer is an affine map conditioned on the context only, so a
    1-D CouplingFlow is a conditional Gaussian: a D = 1 flow needs a nonlinear elementwise map (e.g. zuko's splines).
    """

    def __init__(self, dim: int, n_layers: int = 6, hidden: int = 64, context: int = 0, scale_bound: float = 2.0):
        super().__init__()
        self.dim, self.context = dim, context
        layers = []
        for _ in range(n_layers):
            layers += [AffineCoupling(dim, hidden, context, split=dim // 2, scale_bound=scale_bound),
                       Permute(dim)]
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x [N, D] (c [N, C]) -> z = f(x) [N, D], log |det df/dx| [N] (the sum over layers)."""
        log_det = x.new_zeros(x.shape[:-1])
        for layer in self.layers:
            x, ld = layer(x, c)
            log_det = log_det + ld
        return x, log_det

    def inverse(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """z [N, D] (c [N, C]) -> x = f^{-1}(z) [N, D]: the layers' inverses in reverse order."""
        for layer in reversed(self.layers):
            z = layer.inverse(z, c)
        return z

    def log_prob(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """log p_x(x | c) = log N(f(x); 0, I) + log |det df/dx|: x [N, D] -> [N]."""
        z, log_det = self(x, c)
        return standard_normal_log_prob(z) + log_det

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, c: torch.Tensor | None = None,
               temperature: float = 1.0) -> torch.Tensor:
        """n samples x = f^{-1}(T z), z ~ N(0, I) drawn from ``generator``: [n, D] (c: [n, C] or [C]).

        The temperature T scales the base's standard deviation: T < 1 keeps to the high-density regions (the modes),
        T > 1 spreads out."""
        if temperature <= 0:
            raise ValueError(f"temperature {temperature} must be > 0")
        p = next(self.parameters())
        z = torch.randn(n, self.dim, generator=generator, dtype=p.dtype).to(p.device) * temperature
        if c is not None:
            c = c.expand(n, self.context)
        return self.inverse(z, c)


def ring_of_gaussians(n: int, generator: torch.Generator, modes: int = 8, radius: float = 3.0,
                      std: float = 0.3) -> torch.Tensor:
    """A 2-D multi-modal toy: n points from an equal mixture of ``modes`` Gaussians (std ``std``) whose centres sit
    on a circle of ``radius``. Returns [n, 2]; every draw comes from ``generator``."""
    k = torch.randint(modes, (n,), generator=generator)
    angle = 2 * math.pi * k / modes
    centres = radius * torch.stack([angle.cos(), angle.sin()], -1)
    return centres + std * torch.randn(n, 2, generator=generator)


def ring_log_prob(x: torch.Tensor, modes: int = 8, radius: float = 3.0, std: float = 0.3) -> torch.Tensor:
    """The toy's true log-density (a mixture of isotropic Gaussians): x [N, 2] -> [N]. The floor of any model's NLL."""
    angle = 2 * math.pi * torch.arange(modes, dtype=x.dtype) / modes
    centres = radius * torch.stack([angle.cos(), angle.sin()], -1)          # [K, 2]
    comp = standard_normal_log_prob((x[:, None] - centres) / std) - 2 * math.log(std)   # [N, K]
    return torch.logsumexp(comp, 1) - math.log(modes)


def fit_gaussian(x: torch.Tensor) -> torch.distributions.MultivariateNormal:
    """The maximum-likelihood single Gaussian of data x [N, D]: sample mean and (biased) sample covariance."""
    mu = x.mean(0)
    cov = (x - mu).T @ (x - mu) / len(x)
    return torch.distributions.MultivariateNormal(mu, covariance_matrix=cov)


def fit(model: nn.Module, data: torch.Tensor, steps: int = 1000, lr: float = 3e-3, batch: int = 256,
        generator: torch.Generator | None = None, context: torch.Tensor | None = None, log_prob=None) -> list[float]:
    """Maximum likelihood: minimise the mean NLL -log p(x | c) over minibatches of data [N, D] (context [N, C]) with
    Adam. Returns the loss (nats per point) of every step.

    ``log_prob(x, c) -> [B]`` defaults to ``model.log_prob``; pass another to fit e.g. a zuko flow
    (``lambda x, c: flow(c).log_prob(x)``). A toy fit takes seconds, so it has no log file or checkpoints (those
    belong to the project's training loop, ``styletalker.training.train``)."""
    log_prob = log_prob or model.log_prob
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    curve = []
    for _ in range(steps):
        idx = torch.randint(len(data), (min(batch, len(data)),), generator=generator)
        loss = -log_prob(data[idx], None if context is None else context[idx]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        curve.append(loss.item())
    return curve


def nod_or_still(n: int, frames: int, motion_dim: int, generator: torch.Generator, period: float = 16.0,
                 amplitude: tuple[float, float] = (1.2, 1.8), noise: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """A multi-modal motion toy for the autoregressive prior: n sequences of m_t, each either nodding (coordinate 0,
    'yaw', follows A cos(2 pi t / period) with A uniform in ``amplitude``) or still (yaw 0), with equal odds; every
    coordinate gets N(0, noise^2) per frame. Returns m [n, frames, motion_dim] and nod [n] (bool)."""
    nod = torch.rand(n, generator=generator) < 0.5
    A = amplitude[0] + (amplitude[1] - amplitude[0]) * torch.rand(n, generator=generator)
    t = torch.arange(frames)
    yaw = torch.where(nod[:, None], A[:, None] * torch.cos(2 * math.pi * t / period), torch.zeros(n, frames))
    m = noise * torch.randn(n, frames, motion_dim, generator=generator)
    m[..., 0] += yaw
    return m, nod
