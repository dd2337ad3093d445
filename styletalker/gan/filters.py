"""Alias-free signal processing for the StyleGAN3-style generator: windowed-sinc low-pass filters, separable
up/FIR/down resampling (``upfirdn2d``) and the filtered leaky ReLU.

Pure PyTorch: every filter is a 1-D kernel applied along x then y by grouped convolution, so nothing is compiled.
Follows the reference (non-CUDA) path of StyleGAN3 (Karras et al. 2021, appendix C and D); our own code.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..fir import lowpass


def lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float) -> torch.Tensor | None:
    """Kaiser-windowed sinc low-pass filter [numtaps] (unit DC gain), or None for a single tap (no filtering).

    cutoff: the pass-band edge f_c; width: the transition band 2 * half_width, so the stop-band starts at
    f_c + width / 2; fs: the sampling rate the filter runs at.
    """
    if numtaps == 1:
        return None
    f = lowpass(numtaps, cutoff, fs, width=width)
    return torch.as_tensor(f, dtype=torch.float32)


def frequency_response(f: torch.Tensor, fs: float, n: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Magnitude response of a 1-D filter: (frequencies [n] in the units of fs, |H| [n])."""
    import scipy.signal                                           # here: importing it costs ~0.7 s
    w, h = scipy.signal.freqz(f.double().numpy(), worN=n, fs=fs)
    return w, np.abs(h)


def _fir_1d(x: torch.Tensor, f: torch.Tensor, dim: int, down: int) -> torch.Tensor:
    """Convolve every channel of x [N, C, H, W] with f [K] along H (dim=2) or W (dim=3), striding by ``down``."""
    c = x.shape[1]
    k = f.flip(0).to(x.dtype)                                     # a true convolution, like upfirdn2d
    if dim == 3:
        w, stride = k.view(1, 1, 1, -1), (1, down)
    else:
        w, stride = k.view(1, 1, -1, 1), (down, 1)
    return F.conv2d(x, w.expand(c, 1, *w.shape[2:]), stride=stride, groups=c)


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1,
              padding: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """Upsample by zero insertion, pad, filter with the separable f (x then y), downsample by striding.

    x: [N, C, H, W]; padding: (left, right, top, bottom), negative values crop; gain scales the result (up**2
    keeps the mean when upsampling by zero insertion). Output side: (H * up + pad - K + 1) / down, rounded up.
    The generator does not call this in its layers: it applies the same operator as small dense matrices
    (resample_matrix), which is faster on a CPU; the discriminator and the blur use it directly.
    """
    px0, px1, py0, py1 = padding
    if up > 1:                                                     # zero insertion
        n, c, h, w = x.shape
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    if f is None:
        x = x[:, :, ::down, ::down] if down > 1 else x
        return x * gain if gain != 1 else x
    g = math.sqrt(gain)                                            # split between the two passes
    x = _fir_1d(x, f * g, dim=3, down=down)
    x = _fir_1d(x, f * g, dim=2, down=down)
    return x


def upfirdn2d_reference(x: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1,
                        padding: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """The literal definition (zero insertion, pad, 2-D convolution with the outer product f f^T, stride), for
    tests: slow but obviously right."""
    n, c, h, w = x.shape
    uy = 1 if h == 1 else up
    x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, uy - 1]).reshape(n, c, h * uy, w * up)
    px0, px1, py0, py1 = padding
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    fy = torch.ones(1, dtype=x.dtype) if (f is None or x.shape[2] == 1) else f   # 1-row input: filter x only
    fx = torch.ones(1, dtype=x.dtype) if f is None else f
    f2 = (torch.outer(fy, fx) * gain).flip(0, 1).to(x.dtype)
    x = F.conv2d(x, f2.expand(c, 1, *f2.shape), groups=c)
    return x[:, :, ::down, ::down]


def filtered_lrelu(x: torch.Tensor, fu: torch.Tensor | None, fd: torch.Tensor | None, bias: torch.Tensor,
                   up: int, down: int, padding: tuple[int, int, int, int], gain: float = math.sqrt(2),
                   slope: float = 0.2, clamp: float | None = None) -> torch.Tensor:
    """The alias-free non-linearity: bias, upsample (fu), leaky ReLU at the higher rate, low-pass (fd), downsample.

    x: [N, C, H, W] -> [N, C, H', W'] with H' set by ``padding`` (see SynthesisLayer). The point-wise ReLU creates
    frequencies above the old Nyquist limit; doing it at ``up`` times the rate and filtering before downsampling
    removes them instead of letting them alias back as texture that sticks to pixel coordinates.
    """
    x = x + bias.to(x.dtype).view(1, -1, 1, 1)
    x = upfirdn2d(x, fu, up=up, padding=padding, gain=up ** 2)
    x = F.leaky_relu(x, slope)
    # the gain is linear, so it is folded into the (cheaper) low-pass; likewise the clamp runs at the output rate
    x = upfirdn2d(x, fd, down=down, gain=gain ** 2 if fd is not None else gain)
    return x.clamp(-clamp, clamp) if clamp is not None else x


def blur_kernel(taps=(1, 3, 3, 1)) -> torch.Tensor:
    """A normalised binomial kernel (the discriminator's anti-aliasing before downsampling)."""
    f = torch.tensor(taps, dtype=torch.float32)
    return f / f.sum()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur images [N, C, H, W] with a separable Gaussian (StyleGAN3's early-training blur of D's inputs)."""
    if sigma <= 0:
        return x
    r = int(math.ceil(sigma * 3))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    f = torch.exp(-0.5 * (t / sigma) ** 2)
    return upfirdn2d(x, f / f.sum(), padding=(r, r, r, r))


def resample_matrix(n_in: int, f: torch.Tensor | None, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0),
                    gain: float = 1.0) -> torch.Tensor:
    """The 1-D upfirdn operator as a matrix M [n_in, n_out]: a signal row x [.., n_in] maps to x @ M.

    Built from the reference definition (zero insertion, padding, convolution with f, striding). On a CPU a dense
    matrix product beats depthwise convolution here by 2-3x even though most of M is zero, because the
    matrix multiply runs at full BLAS speed; the generator applies M along W and then along H.
    """
    eye = torch.eye(n_in, dtype=torch.float64).view(n_in, 1, 1, n_in)
    ff = None if f is None else f.double()
    y = upfirdn2d_reference(eye, ff, up=up, down=1, padding=(pad[0], pad[1], 0, 0), gain=gain)
    return y[:, 0, 0, ::down].float().contiguous()


def apply_separable(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Apply a 1-D operator M [n_in, n_out] along W and H of x [N, C, n_in, n_in] -> [N, C, n_out, n_out]."""
    return torch.matmul(m.t().to(x.dtype), x @ m.to(x.dtype))
