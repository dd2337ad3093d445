"""Measuring G_I: equivariance (EQ-T, as in the StyleGAN3 paper) and face-level realism with dlib (detection
rate, Frechet distance of 128-D embeddings, coverage of open mouths, closed eyes and head yaw).

DESIGN.md section 4. The Frechet distance uses dlib's face-recognition network in place of Inception (an FID
analogue with a real face network); it is only meaningful next to its floor, the same distance between two
disjoint halves of the real frames.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import torch

from .generator import Generator, to_uint8


# ------------------------------------------------------------------------------------------------ equivariance
def translate_integer(img: torch.Tensor, tx: float, ty: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift images [N, C, H, W] by (tx, ty) image widths, rounded to whole pixels; returns (shifted, valid mask)."""
    _, _, h, w = img.shape
    ix, iy = int(round(tx * w)), int(round(ty * h))
    out, mask = torch.zeros_like(img), torch.zeros_like(img)
    if abs(ix) < w and abs(iy) < h:
        src = img[:, :, max(-iy, 0):h + min(-iy, 0), max(-ix, 0):w + min(-ix, 0)]
        out[:, :, max(iy, 0):h + min(iy, 0), max(ix, 0):w + min(ix, 0)] = src
        mask[:, :, max(iy, 0):h + min(iy, 0), max(ix, 0):w + min(ix, 0)] = 1
    return out, mask


def synthesize_translated(G: Generator, ws: torch.Tensor, tx: float, ty: float) -> torch.Tensor:
    """Render ws with the input Fourier features translated by (tx, ty) image widths (the user transform)."""
    inp = G.synthesis.input
    old = inp.transform.clone()
    m = torch.eye(3)
    m[0, 2], m[1, 2] = -tx, -ty                                      # the transform is an inverse one
    try:
        inp.transform.copy_(m)
        return G.synthesis(ws)
    finally:
        inp.transform.copy_(old)


@torch.no_grad()
def eq_t(G: Generator, n: int = 256, max_shift: float = 0.125, psi: float = 1.0, seed: int = 0,
         batch: int = 32) -> float:
    """EQ-T in dB: PSNR between translating the input features and translating the output image by the same
    whole-pixel shift (uniform in +-max_shift of the image), over the pixels both images cover.

    Images are in [-1, 1], so the peak-to-peak value is 2: PSNR = 20 log10(2) - 10 log10(MSE).
    """
    g = torch.Generator().manual_seed(seed)
    se, cnt = 0.0, 0.0
    for a in range(0, n, batch):
        b = min(batch, n - a)
        ws = G.mapping(torch.randn(b, G.cfg.z_dim, generator=g), psi)
        t = (torch.rand(2, generator=g) * 2 - 1) * max_shift
        t = (t * G.cfg.resolution).round() / G.cfg.resolution
        ref, mask = translate_integer(G.synthesis(ws), float(t[0]), float(t[1]))
        img = synthesize_translated(G, ws, float(t[0]), float(t[1]))
        se += float(((ref - img).square() * mask).sum())
        cnt += float(mask.sum())
    mse = se / max(cnt, 1)
    return 20 * math.log10(2) - 10 * math.log10(max(mse, 1e-20))


# ----------------------------------------------------------------------------------------------------- faces
@torch.no_grad()
def generate(G: Generator, n: int, psi: float = 1.0, seed: int = 0, batch: int = 64) -> np.ndarray:
    """n samples as uint8 [n, R, R, 3], sample i from seed + i (as ``styletalker sample``)."""
    out = []
    for a in range(0, n, batch):
        out.append(to_uint8(G.synthesis(G.ws_for_seeds(range(seed + a, seed + min(a + batch, n)), psi))))
    return np.concatenate(out)


def face_stats(images: np.ndarray, analyzer=None, embeddings: bool = True) -> dict[str, np.ndarray]:
    """dlib measures of images uint8 [N, H, W, 3]: found [N] bool, landmarks [N, 68, 2] (NaN where no face),
    embedding [N, 128] (NaN where no face), ear [N, 2], mouth [N], yaw [N]."""
    from ..face import FaceAnalyzer, eye_aspect_ratio, mouth_opening, yaw_from_landmarks
    analyzer = analyzer or FaceAnalyzer()
    n = len(images)
    found = np.zeros(n, bool)
    lms = np.full((n, 68, 2), np.nan, np.float32)
    emb = np.full((n, 128), np.nan, np.float32)
    for i, img in enumerate(images):
        r = analyzer.analyze(img)
        if r is None:
            continue
        found[i], lms[i] = True, r.landmarks
        if embeddings:
            emb[i] = r.embedding
    return dict(found=found, landmarks=lms, embedding=emb, ear=eye_aspect_ratio(lms), mouth=mouth_opening(lms),
                yaw=yaw_from_landmarks(lms))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to feature sets a [N, D] and b [M, D]:
    |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = np.real(scipy.linalg.sqrtm(s_a @ s_b))
    return float(np.square(mu_a - mu_b).sum() + np.trace(s_a + s_b - 2 * covmean))


def wasserstein_1d(a: np.ndarray, b: np.ndarray) -> float:
    """1-D Wasserstein (earth mover's) distance between two samples."""
    import scipy.stats
    return float(scipy.stats.wasserstein_distance(a, b))
