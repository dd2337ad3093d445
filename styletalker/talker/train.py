"""Training the conditional sequential VAE with G_I, Enc_I and D_sync frozen (paper section 3, Fig. 2).

Every frame of the training split is inverted once by Enc_I (``code_bank``, cached in the run folder), so a step
needs no encoder pass. One step, on B windows of T_w frames with their audio, and a reference frame drawn from
elsewhere in the same clip:

    W+_hat = W+_ref + f(W+_ref, a_t, m_t),  m_t ~ q(m_t | codes of the window)
    L = code * |W+_hat - Enc_I(x_t)|^2 / var(w)             reconstruction in W+ (cheap: no rendering)
      + l1 * |G(W+_hat) - x| + ssim * (1 - SSIM)             on ``render`` consecutive frames of each window
      + sync * InfoNCE_Dsync(G(W+_hat), audio)               the lip-sync loss (``use_sync=False``: the ablation)
      + kl * mean_t [log q(m_t) - log p(m_t | m_<t, a, W+_ref)]   (Monte Carlo, the prior's common code path)
      + landmark * |(W+_hat - Enc_I(x_t)) U|^2 / var        the code error along the mouth directions U of W+
      + audio_mouth * |(W+_hat(m = 0) - Enc_I(x_t)) U|^2 / var   the same for the audio path alone (session 18)
      + pose * |(W+_hat - Enc_I(x_t)) V|^2 / var_V           the same along the head-pose directions V (off)

The code term is our addition (the paper reconstructs pixels only): with a CPU budget, matching the per-frame inverted
codes teaches the manipulation module most of what it needs before any frame is rendered. The first ``warmup`` steps
use only the code and KL terms; rendering, SSIM and the sync loss join after them.

The rendering phase (the default preset since session 20: 6,000 code steps, then rendering steps of 8 windows with 8
rendered frames each, Adam at ``render_lr`` 1e-4; 300 of them in session 20, 500 in session 21, 800 in session 22,
8,515 since session 23, whose last 7,715 ran on a lent GPU: ``benchmarks/gpu_talker.sh``).
Before session 20 the shipped talkers had none: rendering steps at the code phase's learning rate (1e-3) with the
lip-sync loss broke the talker within 16 steps (PSNR 24 -> 13 dB). Two changes make it work. The lower learning rate,
and ``dsync_default_talking`` (``paths.talking_dsync``): D_sync fine-tuned on the pair's inversions as well as the
world's frames, so that its loss reads the renderer's mouths rather than rejecting them. Measured on validation clips
(docs/benchmarks.md, issue 6, session 20), self-reenactment LSE-C rises from 9.3 to 11.7 and PSNR from 24.7 to 25.1 dB;
with the lips driven by the audio alone (m_t = 0) LSE-C rises from 7.4 to 10.7. 200 more steps (session 21) take LSE-C
to 12.2 at the same PSNR, 300 more (session 22) to 12.7 at 25.2 dB, and 7,715 more on a GPU (session 23, Adam's
moments restarted at step 6,800) to 13.9 at 25.3 dB, past the inversions' own 13.2.

Disentangling lips from motion. Enc_I's codes of a clip vary mostly with head pose (a linear probe recovers yaw from
them at r = 0.96, jaw opening at r = 0.71; the mouth is ~3 % of their within-clip variance), so a posterior that sees
the codes can explain the mouth as well as the audio can, and with a small KL weight it does (the audio path then goes
unused). Three measures keep the mouth on the audio path: the posterior does not see the W+ directions the mouth probe P
reads (:func:`mouth_probe`; ``mouth_rank`` of them are projected out of its input), the landmark term (the code error
along U, in units of the mouth's own variance) makes the mouth's small share of the code error count, and for the first
``audio_only`` steps m_t = 0 (the audio path learns what it can explain); afterwards a share ``motion_drop`` of windows
is reconstructed with m_t = 0, so the audio path must stay sufficient for the lips on its own.

The landmark term is off by default (``landmark=0``): measured on the default data (2,000 code steps, linear probes
of the output codes on test clips), with it on at weight 1 the motion path stops carrying pose (self-reenactment yaw
r 0.06 against 0.89 without it; the KL jumps from ~2.5 to ~18 nats per frame) while the mouth gains little (jaw r
0.22 against 0.24).

The audio-mouth term (``audio_mouth``, session 18) is the landmark term taken on a second, audio-only pass of the
manipulation module (m_t = 0). Its gradient reaches only the audio encoder and the audio offset path, so it cannot
teach the posterior the mouth, which is what broke pose above. Without it, the audio path moved the mouth in W+ at 0.31
of the inversions' within-clip amplitude: the mouth is ~3 % of the code error, so regressing to a barely-open mouth cost
almost nothing. Measured on the default data (6,000 code steps, ``benchmarks/latent_mouth_probe.py`` on test clips),
weight 0.3 raises that amplitude to 0.70 and weight 1 to 0.93 (seed 1: 0.61). The within-clip r with the true jaw rises
from 0.74 to 0.77-0.81. Weight 0.3, the default since session 18, was chosen on the validation split: self-reenactment
LSE-C 6.5 -> 9.4 at 0.3 and 8.8 at 1. Weight 1 kept less of the head's yaw (docs/benchmarks.md, issue 6, session 18).

The pose term (``pose``, session 21) is the same kind of error along the three W+ directions V that move with yaw,
pitch and roll (:func:`code_directions` on :func:`pose_signal`), taken on the windows whose m_t is kept, so that it
teaches the motion path and never asks the audio path for the head. It is off by default: measured on the default
data (6,000 code steps, cross-reenactment read in W+ by ``benchmarks/latent_mouth_probe.py``, centred per clip), yaw /
pitch / roll r were 0.90 / 0.72 / 0.76 without it, 0.92 / 0.71 / 0.77 at weight 0.3 and 0.91 / 0.65 / 0.78 at 1, for
2-3x the KL; in the rendered frames the shipped talker's pose already sits near the inversions' own (validation:
yaw 0.77 against 0.81, roll 0.78 against 0.79).
"""
from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import torch

from ..config import profile
from ..data.dataset import ClipWindows
from ..imagemetrics import ssim
from ..training import GeneratorState
from .model import Talker


@dataclasses.dataclass(frozen=True)
class TalkerTrainConfig:
    """Length, window and loss weights of talker training."""
    steps: int = 4000          # optimiser steps
    batch: int = 8             # windows per step
    window: int = 16           # T_w frames per window
    render: int = 5            # frames of each window rendered by G_I (>= 5 for the sync loss)
    warmup: int = 2000         # first steps on the code and KL terms only (no rendering: ~50x cheaper on a CPU)
    audio_only: int = 800      # first steps with m_t = 0 and no KL: the audio path learns the mouth first
    motion_drop: float = 0.3   # after that, the share of windows whose m_t is zeroed (audio alone must explain them)
    lr: float = 1e-3           # Adam
    render_lr: float = 0.0     # Adam's learning rate once rendering starts (after ``warmup``); 0: the same as lr
    code: float = 1.0          # W+ reconstruction
    l1: float = 1.0            # pixel L1 (images in [-1, 1])
    ssim: float = 0.5          # 1 - SSIM
    sync: float = 0.1          # D_sync InfoNCE
    landmark: float = 0.0      # code error along W+ mouth directions U (units of their variance); 0: off, see above
    audio_mouth: float = 0.3   # the same error of the audio path alone (m_t = 0): trains the lips, not the posterior
    pose: float = 0.0          # code error along W+ head-pose directions (units of their variance), on the windows
                               # whose m_t is kept: the motion path must carry yaw, pitch and roll (session 21)
    kl: float = 1e-3           # KL weight (beta), per frame in nats against the per-element code term
    use_sync: bool = True      # False: the ablation without the lip-sync loss
    edge: float = 1.0          # the prior stage's edge term (PriorStage, session 19; 0: off)
    edge_z: float = 3.0        # where the edge is: training mean of m_t +- edge_z standard deviations
    edge_frames: int = 200     # frames of each free walk the edge term trains at
    edge_every: int = 4        # the edge term on every this many steps
    edge_step: float = 0.0     # its step part: the walk's steps beyond edge_step_z of the data's (session 25; 0: off)
    edge_step_z: float = 2.5   # where that edge is, in standard deviations of the posterior's frame-to-frame steps
    style_free_bits: float = 0.5  # a style latent's free bits, nats per dimension and window (prior.py; session 27)
    step_noise: float = 0.0    # the prior stage's noise on the last step the GRU reads (standardised units; prior.py)
    seed: int = 0


TALKER_TRAIN_PRESETS = {
    "quick": dict(steps=20, batch=2, window=8, warmup=10, audio_only=4, edge_frames=48),
    "default": dict(steps=14515, warmup=6000, render=8, render_lr=1e-4),  # the shipped recipe (session 23)
    "full": dict(steps=40000, batch=16, window=32, render=8, warmup=4000, audio_only=1500),
}


def talker_train_config(name: str | None = None, **overrides) -> TalkerTrainConfig:
    return dataclasses.replace(TalkerTrainConfig(**TALKER_TRAIN_PRESETS[profile(name)]), **overrides)


def mouth_features(lm) -> np.ndarray:
    """How open and wide the mouth is, over the inter-ocular distance: landmarks [N, 68, 2] -> [N, 3] (inner-lip
    gap 62-66, outer-lip gap 51-57, width 48-54). Distances between mouth points barely move with head pose, where
    the points' positions do (a probe of raw mouth points finds the pose directions of W+ too)."""
    from ..face import inter_ocular
    lm = np.asarray(lm, np.float32)
    d = lambda i, j: np.linalg.norm(lm[:, i] - lm[:, j], axis=-1)            # noqa: E731
    return np.stack([d(62, 66), d(51, 57), d(48, 54)], 1) / inter_ocular(lm)[:, None]


def pose_signal(labels: dict) -> np.ndarray:
    """How the head is turned, [N, 3]: the world's yaw, pitch and roll (degrees) where the clips have pose labels;
    for clips with landmarks only (real clips), the landmark proxies of the same three that the pose estimator reads
    (:func:`styletalker.posemetrics.pose_features`: the nose tip's de-rolled offset from the eyes' centre across and
    along the eye line, over the inter-ocular distance, and the eye line's angle)."""
    if "pose" in labels:
        return np.asarray(labels["pose"], np.float32)[:, :3]
    from ..posemetrics import FEATURES, pose_features
    cols = [FEATURES.index(k) for k in ("yaw_nose", "pitch_nose", "roll_deg")]
    return pose_features(labels["landmarks"])[:, cols].astype(np.float32)


def code_directions(codes: np.ndarray, Y: np.ndarray, lengths, rank: int, ridge: float = 10.0,
                    max_frames: int = 20000, seed: int = 0,
                    standardise: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A within-clip linear probe from W+ to features Y [N, F] and the W+ directions they move along: (P [K * D, F],
    U [K * D, rank], the within-clip variance of the codes along U [rank]). :func:`mouth_probe` gives the details;
    ``standardise`` scales each feature to unit within-clip variance first, so that features in different units
    (degrees of yaw and of roll) count alike in U."""
    ends = np.cumsum(lengths)
    X = np.asarray(codes, np.float32).reshape(len(codes), -1)
    Y = np.asarray(Y, np.float32).reshape(len(Y), -1)
    Xs, Ys = [], []
    for a, b in zip(ends - np.asarray(lengths), ends):
        Xs.append(X[a:b] - X[a:b].mean(0))
        Ys.append(Y[a:b] - Y[a:b].mean(0))
    X, Y = np.concatenate(Xs), np.concatenate(Ys)
    if standardise:
        Y = Y / np.maximum(Y.std(0), 1e-8)
    pick = np.random.default_rng(seed).permutation(len(X))[:max_frames]
    X, Y = torch.from_numpy(X[pick]).double(), torch.from_numpy(Y[pick]).double()
    P = torch.linalg.solve(X.T @ X + ridge * torch.eye(X.shape[1], dtype=X.dtype), X.T @ Y)
    U = torch.linalg.svd(X.T @ Y, full_matrices=False)[0][:, :rank]
    return P.float(), U.float(), (X @ U).var(0).float()


def mouth_probe(codes: np.ndarray, landmarks: np.ndarray, lengths, rank: int, ridge: float = 10.0,
                max_frames: int = 20000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A linear probe from W+ to the mouth (:func:`mouth_features`), and the W+ directions the mouth moves along.

    Within each clip, codes and features are centred, so the probe sees how a face's mouth moves, not who it is;
    ridge regression P = (X^T X + ridge I)^-1 X^T Y on up to ``max_frames`` frames. Returns P [K * D, 3],
    U [K * D, rank], the top left singular vectors of the cross-covariance X^T Y: the code directions along which
    codes move with the mouth (P's own directions are whitened by (X^T X)^-1 and point into low-variance
    directions: as a loss, |dW P|^2 is ill-conditioned and, measured, stops the motion path from learning pose),
    and the within-clip variance of the codes along U [rank], the scale of the landmark term. On the default data,
    projecting the rank-1 U out of the codes drops a linear probe's jaw correlation from 0.71 to -0.04 and keeps yaw,
    pitch and roll at r = 0.97, 0.96, 0.90 (rank 2 loses pitch).
    codes [N, K, D], landmarks [N, 68, 2] (pixels), lengths: frames per clip (their sum is N)."""
    return code_directions(codes, mouth_features(landmarks), lengths, rank, ridge, max_frames, seed)


def mouth_centre(codes: np.ndarray, U: torch.Tensor, landmarks: np.ndarray, closed: float = 0.1) -> torch.Tensor:
    """Where a closed mouth lies along the mouth directions U [K * D, rank]: the mean of U^T w over the ``closed``
    share of frames with the smallest inner-lip gap (:func:`mouth_features`), codes [N, K, D], landmarks [N, 68, 2].
    [rank]: the mouth reset's target (:class:`~styletalker.talker.modules.WManipulation`), so that silence, whose
    audio offset is zero by construction, keeps the mouth shut."""
    gap = mouth_features(landmarks)[:, 0]
    pick = np.sort(np.argsort(gap, kind="stable")[:max(1, int(round(closed * len(gap))))])
    x = torch.from_numpy(np.asarray(codes[pick], np.float32)).flatten(1)
    return (x.double() @ U.double()).mean(0).float()


def code_bank(E, windows: ClipWindows, out, batch: int = 256, progress: bool = True) -> np.ndarray:
    """Enc_I's codes of every frame of a split, in the dataset cache's order: float16 [N, K, D], cached in OUT.

    The cache is keyed by the encoder's weights and the frames (codes.key holds a fingerprint of both: the weights, the
    frame count and every 97th frame): another encoder, or a dataset rebuilt by another world revision, recomputes
    it."""
    import hashlib

    from tqdm.auto import tqdm

    from ..inversion.invert import encode
    path = pathlib.Path(out) / "codes.npy"
    key_path = path.with_suffix(".key")
    h = hashlib.sha256()
    for v in E.state_dict().values():
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    n = int(windows.offsets[-1])
    h.update(str(n).encode())
    h.update(np.ascontiguousarray(windows.frames[::97]).tobytes())
    key = h.hexdigest()
    if path.exists() and key_path.exists() and key_path.read_text().strip() == key:
        codes = np.load(path, mmap_mode="r")
        if len(codes) == n:
            return codes
    path.parent.mkdir(parents=True, exist_ok=True)
    codes = np.zeros((n, E.cfg.num_ws, E.cfg.w_dim), np.float16)
    for a in tqdm(range(0, n, batch), desc="inverting frames", disable=not progress):
        codes[a:a + batch] = encode(E, np.array(windows.frames[a:a + batch]), batch).numpy().astype(np.float16)
    tmp = path.with_name(".codes.tmp.npy")
    np.save(tmp, codes)
    tmp.replace(path)
    key_path.write_text(key + "\n")
    return codes


def window_starts(windows: ClipWindows, window: int) -> list[tuple[int, int]]:
    """Every (clip, first frame) of a ``window``-frame window inside one clip."""
    return [(ci, s) for ci, n in enumerate(np.asarray(windows.index["lengths"])) for s in range(0, n - window + 1)]


def sample_windows(ds: ClipWindows, codes: np.ndarray, starts: list, cfg: TalkerTrainConfig, gen: torch.Generator,
                   device="cpu", with_frames: bool = True) -> dict:
    """``cfg.batch`` random windows of ``cfg.window`` frames, each with a reference frame drawn from its clip:
    frames [B, T, 3, R, R] in [0, 1] (if ``with_frames``), mel [B, T, 80, 20], codes [B, T, K, D], ref [B, K, D]."""
    pick = torch.randint(len(starts), [cfg.batch], generator=gen).tolist()
    frames, mel, win, ref = [], [], [], []
    for i in pick:
        ci, s = starts[i]
        a = int(ds.offsets[ci]) + s
        r = int(ds.offsets[ci]) + int(torch.randint(int(ds.index["lengths"][ci]), [1], generator=gen))
        if with_frames:
            frames.append(torch.from_numpy(np.array(ds.frames[a:a + cfg.window])))
        mel.append(torch.from_numpy(np.asarray(ds.mel[a:a + cfg.window], np.float32)))
        win.append(torch.from_numpy(np.asarray(codes[a:a + cfg.window], np.float32)))
        ref.append(torch.from_numpy(np.asarray(codes[r], np.float32)))
    to = lambda xs: torch.stack(xs).to(device)                            # noqa: E731
    out = dict(mel=to(mel), codes=to(win), ref=to(ref))
    if with_frames:
        out["frames"] = to(frames).permute(0, 1, 4, 2, 3).float() / 255
    return out


class TalkerStage:
    """One step of the sequential VAE for :func:`styletalker.training.train`."""

    def __init__(self, talker: Talker, G, windows: ClipWindows, codes: np.ndarray, cfg: TalkerTrainConfig,
                 dsync=None, w_std: torch.Tensor | None = None, device="cpu"):
        self.net, self.G, self.ds, self.codes = talker.to(device).train(), G.to(device).eval(), windows, codes
        G.requires_grad_(False)
        self.dsync = dsync.to(device).eval().requires_grad_(False) if dsync is not None else None
        if cfg.use_sync and self.dsync is None:
            raise ValueError("use_sync needs D_sync")
        self.cfg, self.batch, self.device = cfg, cfg.batch, device
        self.opt = torch.optim.Adam(talker.parameters(), lr=cfg.lr)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.w_std = (w_std if w_std is not None else torch.ones(talker.cfg.w_dim)).to(device)
        lengths = np.asarray(windows.index["lengths"])
        self.starts = window_starts(windows, cfg.window)
        self.mouth = None
        if "landmarks" in windows.labels and talker.cfg.mouth_rank > 0:
            _, U, var = mouth_probe(codes, windows.labels["landmarks"], lengths, talker.cfg.mouth_rank, seed=cfg.seed)
            self.mouth = (U.to(device), var.to(device))
            with torch.no_grad():
                talker.posterior.mouth_basis.copy_(U)
                if talker.cfg.reset_mouth:                                   # the mouth reset's U and centre
                    talker.manipulation.mouth_basis.copy_(U)
                    talker.manipulation.mouth_centre.copy_(mouth_centre(codes, U, windows.labels["landmarks"]))
        self.pose = None
        if cfg.pose > 0:
            if not ({"pose", "landmarks"} & set(windows.labels)):
                raise ValueError("the pose term needs pose or landmark labels in the training clips; set pose=0")
            _, U, var = code_directions(codes, pose_signal(windows.labels), lengths, 3, seed=cfg.seed,
                                        standardise=True)
            self.pose = (U.to(device), var.to(device))

    def state(self) -> dict:
        return dict(net=self.net, opt=self.opt, rng=GeneratorState(self.gen))

    def sample(self, with_frames: bool = True) -> dict:
        return sample_windows(self.ds, self.codes, self.starts, self.cfg, self.gen, self.device, with_frames)

    def mouth_error(self, ws: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Mean squared code error along the mouth directions U, in units of their within-clip variance: the
        landmark and audio-mouth terms. ws, codes [B, T, K, D]."""
        return self.direction_error(self.mouth, ws, codes).mean()

    @staticmethod
    def direction_error(dirs: tuple, ws: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Squared code error along directions (U [K * D, r], var [r]) in units of var, per window: [B]."""
        U, var = dirs
        return (((ws - codes).flatten(2) @ U).pow(2) / var).mean((1, 2))

    def step(self, i: int) -> dict[str, float]:
        c, G = self.cfg, self.G
        rendering = bool(c.render) and i >= c.warmup
        for g in self.opt.param_groups:                       # set every step: a resumed optimiser keeps its own
            g["lr"] = c.render_lr if rendering and c.render_lr > 0 else c.lr
        b = self.sample(with_frames=rendering)
        if i < c.audio_only:
            keep = torch.zeros(c.batch)
        else:
            keep = (torch.rand(c.batch, generator=self.gen) >= c.motion_drop).float()
        out = self.net.elbo_terms(b["ref"], b["mel"], b["codes"], self.gen, keep.to(self.device))
        terms = dict(code=((out["ws_hat"] - b["codes"]) / self.w_std).pow(2).mean(), kl=out["kl"].mean())
        if self.mouth is not None and c.landmark > 0:
            terms["landmark"] = self.mouth_error(out["ws_hat"], b["codes"])
        if self.pose is not None:                                         # windows with motion only
            err = self.direction_error(self.pose, out["ws_hat"], b["codes"])
            terms["pose"] = (err * keep.to(err)).sum() / keep.sum().clamp(min=1)
        if self.mouth is not None and c.audio_mouth > 0:                  # the audio path alone: m_t = 0
            ws_a = self.net.manipulation(b["ref"], out["a"], torch.zeros_like(out["m"]))
            terms["audio_mouth"] = self.mouth_error(ws_a, b["codes"])
        if rendering:
            r0 = int(torch.randint(c.window - c.render + 1, [1], generator=self.gen))
            ws = out["ws_hat"][:, r0:r0 + c.render]
            y = G.synthesis(ws.flatten(0, 1))                                     # [B * n, 3, R, R]
            x = b["frames"][:, r0:r0 + c.render].flatten(0, 1) * 2 - 1
            terms["l1"] = (y - x).abs().mean()
            terms["ssim"] = 1 - ssim(y, x).mean()
            if c.use_sync:
                from ..sync.model import sync_loss
                frames = ((y.clamp(-1, 1) + 1) / 2).view(c.batch, c.render, *y.shape[1:])
                terms["sync"] = sync_loss(frames, b["mel"][:, r0:r0 + c.render], self.dsync)
        weights = dict(vars(c), kl=c.kl if i >= c.audio_only else 0.0)
        loss = sum(weights[k] * v for k, v in terms.items())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 5.0)
        self.opt.step()
        return {k: v.item() for k, v in terms.items()}


def window_batches(windows: ClipWindows, codes: np.ndarray, cfg: TalkerTrainConfig, gen: torch.Generator,
                   device="cpu"):
    """Batches of :func:`sample_windows` (without frames) drawn from ``gen``, without end: what the prior's
    statistics (:func:`fit_prior_inputs`, :func:`step_std`, :func:`fit_style_prior`) are measured on."""
    starts = window_starts(windows, cfg.window)
    while True:
        yield sample_windows(windows, codes, starts, cfg, gen, device, with_frames=False)


@torch.no_grad()
def fit_prior_inputs(talker: Talker, windows: ClipWindows, codes: np.ndarray, cfg: TalkerTrainConfig,
                     batches: int = 16, seed: int = 0, device="cpu") -> None:
    """Set a standardising prior's input statistics (``prior.in_mean``, ``in_std``) from ``batches`` random training
    windows under teacher forcing, at the motion the prior is fitted to (``prior_target``): each feature centred and
    scaled to unit variance. A feature that hardly varies gets a floor on its std (1 % of its group's mean std: the
    groups are m_(t-1), a_t, e_ref and the last step), so that standardising does not blow up noise. Scaling each
    group as a whole instead (session 17, not kept) gave a prior whose samples nearly all turned the head
    (docs/benchmarks.md, issue 7)."""
    prior = talker.prior
    gen = torch.Generator().manual_seed(seed)
    xs = []
    for _, b in zip(range(batches), window_batches(windows, codes, cfg, gen, device)):
        a, e_ref = talker.audio(b["mel"]), talker.e_ref(b["ref"])
        m = talker.fitted_motion(b["codes"], b["ref"], gen)
        xs.append(prior.teacher_inputs(m, a, e_ref, raw=True).flatten(0, 1))
    x = torch.cat(xs)
    mean, std = x.mean(0), x.std(0)
    M, A = talker.cfg.motion_dim, talker.cfg.audio_dim
    bounds = [0, M, M + A, M + A + prior.ref_dim, x.shape[1]]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi > lo:
            std[lo:hi] = std[lo:hi].clamp_min(0.01 * std[lo:hi].mean())
    prior.in_mean.copy_(mean)
    prior.in_std.copy_(std)


@torch.no_grad()
def step_std(talker: Talker, windows: ClipWindows, codes: np.ndarray, cfg: TalkerTrainConfig, batches: int = 16,
             seed: int = 0, device="cpu") -> torch.Tensor:
    """Per-dimension standard deviation [M] of the posterior mean's frame-to-frame step m_t - m_(t-1) inside
    ``batches`` random training windows (what the edge term's step part measures the walk's steps against; the
    GRU's own step statistics also hold the jump from the resting state at each window's start)."""
    gen = torch.Generator().manual_seed(seed)
    d = []
    for _, b in zip(range(batches), window_batches(windows, codes, cfg, gen, device)):
        mu = talker.posterior(b["codes"], b["ref"])[0]
        d.append((mu[:, 1:] - mu[:, :-1]).flatten(0, 1))
    return torch.cat(d).std(0).clamp_min(1e-4)


@torch.no_grad()
def fit_style_prior(talker: Talker, windows: ClipWindows, codes: np.ndarray, cfg: TalkerTrainConfig, seed: int = 0,
                    device="cpu") -> None:
    """Set a style prior's p(c) to the aggregate posterior (``styletalker.talker.prior``): q(c | m) of
    ``prior_style_mix`` random training windows, at the motion the prior is fitted to, as an equal mixture
    (``prior.style_mu``, ``style_log_sigma``). Called once the prior is fitted; sampling and held-out NLLs use it."""
    prior = talker.prior
    K = talker.cfg.prior_style_mix
    gen = torch.Generator().manual_seed(seed)
    mus, log_sigmas = [], []
    for _, b in zip(range(-(-K // cfg.batch)), window_batches(windows, codes, cfg, gen, device)):
        c_mu, c_log_sigma = prior.style_posterior(talker.fitted_motion(b["codes"], b["ref"], gen))
        mus.append(c_mu)
        log_sigmas.append(c_log_sigma)
    prior.style_mu.copy_(torch.cat(mus)[:K])
    prior.style_log_sigma.copy_(torch.cat(log_sigmas)[:K])


class PriorStage:
    """The motion prior fitted as a second stage against the frozen posterior (issue 7's choice, documented):

        min_prior  E_{windows} E_{m ~ q(m | codes)} [ -1/T sum_t log p(m_t | m_<t, a, W+_ref) ]

    which is the prior's part of the ELBO's KL (the entropy of q does not depend on the prior), or, with
    ``prior_target = "mean"`` (what ``styletalker train prior`` fits by default since session 10), the same at m = q's
    mean: the trajectory the posterior infers, without q's per-frame noise, which a prior fitted to samples learns as
    spread and reproduces as jitter (:meth:`Talker.motion_log_prob`). Everything but
    ``talker.prior`` is frozen, and no frame is rendered, so a step costs milliseconds; both priors (flow, Gaussian)
    are fitted this same way, so their held-out negative log-likelihoods compare fairly.

    The edge term (``edge``, default 1 since session 19). Teacher forcing only ever shows the GRU the posterior's
    exact history, on 32-frame windows; sampling feeds it its own steps for minutes, and session 17-18's flow priors
    carried their small errors on until the walk left the training range, after 4-6 s (max |m_t| 95 over 5 minutes,
    against the posterior's 0.5-0.9; :meth:`~styletalker.talker.prior.ARPrior.motion_box`). So every ``edge_every``
    steps the prior also walks freely (no box) for ``edge_frames`` frames on ``batch`` sequences (audio: whole
    training clips end to end; reference: a frame of the first; temperature drawn from [0.7, 1.4], around the
    temperatures calibration picks), and at every state that walk visited (h_(t-1), m_(t-1), m_(t-2)) takes one
    differentiable step m_t (:meth:`~styletalker.talker.prior.ARPrior.step_from`) and pays for leaving the
    training range:

        L_edge = mean_states sum_d huber(max(0, |m_t,d - mean_d| / std_d - edge_z)),   huber(u) = 2 (sqrt(1 + u^2) - 1)

    with mean_d, std_d the training windows' statistics the prior standardises its inputs with. Inside the range (edge_z
    = 3 standard deviations) the term is 0, so the fit to the data is untouched there; at the edge it teaches the step
    to point back in, from the states the prior really reaches. The gradient goes through one step only (the walk itself
    is taken without it), so it is as well conditioned as teacher forcing. Measured on the default talker
    (docs/benchmarks.md, issue 7, session 19), the fitted flow stays bounded with the box off: max |m_t| at most 1.0
    over 1,500 frames at temperatures 0.85-1, with the same spread in the first and last 250 frames. Two alternatives
    did worse: a loss on the pooled statistics of 160-frame walks, back-propagated through the whole walk, made both
    priors leave the range within 40 frames (the gradient through a long chaotic walk is noise); and Gaussian noise on
    the history the GRU reads (0.5-1 standard deviations) delayed the runaway but did not stop it
    (a second seed of the fit: max |m_t| 55 and 120 in two of three walks).

    The edge term's step part (``edge_step``, session 25; off by default, and not in the shipped priors). The range
    part keeps the walk inside the box but says nothing of its speed: the shipped flow, fitted on 32-frame windows,
    walks at 0.14 per frame for its first 32 frames, then 0.27-0.32 after 64 frames, twice the posterior's 0.14-0.16
    (test audio; ``benchmarks/motion_smoothness.py --profile-seeds``), so on audio longer than a few seconds heads
    move too fast. With ``edge_step`` > 0 the same step from each visited state also pays, per dimension, for a
    frame-to-frame change beyond ``edge_step_z`` standard deviations of the posterior mean's steps in training
    windows (:func:`step_std`):

        L_step = mean_states sum_d huber(max(0, |m_t,d - m_(t-1),d| / s_d - edge_step_z))

    weighted by ``edge_step`` inside the edge term. A 1,000-step fine-tune of the shipped flow with it (``--set
    edge_step=1 --set edge_frames=480``) kept its steps flat over 960 frames, but at the temperature the validation
    rule then chose (0.6) they were 0.6-0.9 of the posterior's, and on the test split audio-driven LSE-C fell under
    its bar and the pose Frechet distance rose (docs/benchmarks.md, issue 7, session 25), so it was not shipped;
    with ``edge_step_z`` 3.5 the steps at 0.85 matched the posterior's, but the calibrated temperature was 0.6
    again, where they fell 31 % under it on validation (the same section). Session 26 chose temperatures by steps and
    styles together (``benchmarks/calibrate_temperature.py --rule steps``): two more seeds of that fine-tune, and a
    first fit with the step part, had no temperature where both matched the data; where the steps did, almost no
    sample was still (the same section).

    Session 27's options (``styletalker.talker.prior``, all off by default): for a prior with a style latent the NLL
    term is the ELBO against N(0, I) with ``style_free_bits`` per dimension (a fitted p(c) it starts from is reset;
    ``styletalker train prior`` sets it again after the fit with :func:`fit_style_prior`), and ``step_noise`` > 0 perturbs the standardised last step the GRU reads, here and in
    the edge term's walks, from this stage's generator.
    """

    def __init__(self, talker: Talker, windows: ClipWindows, codes: np.ndarray, cfg: TalkerTrainConfig,
                 lr: float = 1e-3, device="cpu"):
        self.net, self.ds, self.codes, self.cfg, self.device = talker.to(device).eval(), windows, codes, cfg, device
        talker.requires_grad_(False)
        talker.prior.requires_grad_(True).train()
        self.batch = cfg.batch
        self.opt = torch.optim.Adam(talker.prior.parameters(), lr=lr)
        self.gen = torch.Generator().manual_seed(cfg.seed + 1)
        self.starts = window_starts(windows, cfg.window)
        if talker.cfg.prior_input_norm:              # its own seed: a resumed run measures the same statistics
            fit_prior_inputs(talker, windows, codes, cfg, seed=cfg.seed + 2, device=device)
        self.edge = cfg.edge if talker.cfg.prior_input_norm else 0.0      # it needs the input statistics
        self.step_std = step_std(talker, windows, codes, cfg, seed=cfg.seed + 3, device=device) \
            if self.edge > 0 and cfg.edge_step > 0 else None
        talker.prior.step_noise, talker.prior.noise_gen = cfg.step_noise, self.gen
        if talker.prior.style_mixture() is not None:    # fitted against N(0, I); p(c) is set again after the fit
            talker.prior.style_mu.zero_()
            talker.prior.style_log_sigma.zero_()

    def state(self) -> dict:
        return dict(prior=self.net.prior, opt=self.opt, rng=GeneratorState(self.gen))

    def edge_term(self) -> torch.Tensor:
        """The edge term (class docstring) on ``batch`` free walks of ``edge_frames`` frames."""
        c, ds, net = self.cfg, self.ds, self.net
        lengths, mels, refs = np.asarray(ds.index["lengths"]), [], []
        for _ in range(c.batch):
            parts, n = [], 0
            while n < c.edge_frames:                                     # whole clips end to end
                ci = int(torch.randint(len(lengths), [1], generator=self.gen))
                o = int(ds.offsets[ci])
                parts.append(np.asarray(ds.mel[o:o + lengths[ci]], np.float32))
                if n == 0:
                    r = o + int(torch.randint(int(lengths[ci]), [1], generator=self.gen))
                    refs.append(torch.from_numpy(np.asarray(self.codes[r], np.float32)))
                n += int(lengths[ci])
            mels.append(torch.from_numpy(np.concatenate(parts)[:c.edge_frames]))
        temperature = 0.7 + 0.7 * float(torch.rand(1, generator=self.gen))
        with torch.no_grad():
            a = net.audio(torch.stack(mels).to(self.device))
            e_ref = net.e_ref(torch.stack(refs).to(self.device))
            _, _, seen = net.prior.walk(a, e_ref, temperature, gen=self.gen, box=False)
        flat = {k: v.flatten(0, 1) for k, v in seen.items()}
        e_ref = e_ref[:, None].expand(-1, a.shape[1], -1).flatten(0, 1)
        m = net.prior.step_from(flat, a.flatten(0, 1), e_ref, temperature, self.gen)
        mean, std = net.prior.motion_stats()
        huber = lambda u: (2 * ((1 + u ** 2).sqrt() - 1)).sum(-1).mean()                  # noqa: E731
        edge = huber((((m - mean) / std).abs() - c.edge_z).clamp_min(0))
        if self.step_std is None:
            return edge
        return edge + c.edge_step * huber(((m - flat["m"]).abs() / self.step_std - c.edge_step_z).clamp_min(0))

    def step(self, i: int) -> dict[str, float]:
        b = sample_windows(self.ds, self.codes, self.starts, self.cfg, self.gen, self.device, with_frames=False)
        terms = dict(nll=-self.net.motion_log_prob(b["ref"], b["mel"], b["codes"], self.gen,
                                                   free_bits=self.cfg.style_free_bits).mean())
        if self.edge > 0 and i % self.cfg.edge_every == 0:
            terms["edge"] = self.edge_term()
        loss = terms["nll"] + self.edge * terms.get("edge", 0.0)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.prior.parameters(), 5.0)
        self.opt.step()
        return {k: v.item() for k, v in terms.items()}


@torch.no_grad()
def motion_nll(talker: Talker, windows: ClipWindows, codes: np.ndarray, window: int = 32, samples: int = 4,
               seed: int = 0) -> float:
    """Held-out fit of a prior: mean -log p(m_t | m_<t, a, W+_ref) per frame (nats) at the motion it was fitted to
    (``talker.cfg.prior_target``: ``samples`` draws m ~ q(m | codes of the clip), or q's mean, one pass), over every
    non-overlapping window of every clip (the first frame of the clip is the reference). For a prior with a style
    latent, an upper bound: the ELBO's, at ``samples`` draws of c ~ q(c | m) (:meth:`ARPrior.log_prob`)."""
    gen = torch.Generator().manual_seed(seed)
    samples = 1 if talker.cfg.prior_target == "mean" and not talker.cfg.prior_style else samples
    lengths = np.asarray(windows.index["lengths"])
    total, n = 0.0, 0
    for ci, L in enumerate(lengths):
        o = int(windows.offsets[ci])
        ref = torch.from_numpy(np.asarray(codes[o], np.float32))[None]
        for s in range(0, L - window + 1, window):
            c = torch.from_numpy(np.asarray(codes[o + s:o + s + window], np.float32))[None]
            mel = torch.from_numpy(np.asarray(windows.mel[o + s:o + s + window], np.float32))[None]
            for _ in range(samples):
                total += -talker.motion_log_prob(ref, mel, c, gen).sum().item()
                n += window
    return total / max(n, 1)
