"""Kaiser-windowed sinc FIR filters and polyphase resampling, in numpy.

Two users: the generator's alias-free layers (:mod:`styletalker.gan.filters`) design their low-pass filters here, and
:func:`styletalker.audio.resample` brings any audio (espeak-ng speaks at 22.05 kHz) to 16 kHz. Both follow the
classic window design method (Kaiser 1974; the formulas of Oppenheim and Schafer, "Discrete-Time Signal
Processing", section 7.6) and agree with scipy's ``firwin`` and ``resample_poly`` to float rounding (tested). They
live here rather than in scipy.signal because importing scipy.signal costs about 0.7 s, a tenth of the time budget
of a short sentence on the command line.
"""
from __future__ import annotations

import math

import numpy as np


def kaiser_beta(attenuation_db: float) -> float:
    """Kaiser's window parameter beta for a stop-band attenuation in dB (his empirical formula)."""
    a = attenuation_db
    if a > 50:
        return 0.1102 * (a - 8.7)
    if a > 21:
        return 0.5842 * (a - 21) ** 0.4 + 0.07886 * (a - 21)
    return 0.0


def lowpass(numtaps: int, cutoff: float, fs: float = 2.0, width: float | None = None,
            beta: float | None = None) -> np.ndarray:
    """Linear-phase low-pass FIR filter [numtaps] (float64) with unit gain at DC: the ideal response sinc, cut to
    ``numtaps`` taps by a Kaiser window.

    cutoff: the -6 dB edge, in the units of ``fs`` (0 < cutoff < fs / 2).
    width:  the transition band (units of fs); beta then follows from the attenuation that ``numtaps`` taps reach
            over it: A = 2.285 (numtaps - 1) pi width / (fs / 2) + 7.95 dB.
    beta:   the Kaiser window's parameter, when no width is given.
    """
    nyq = fs / 2
    if not 0 < cutoff < nyq:
        raise ValueError(f"cutoff {cutoff} must lie strictly between 0 and fs / 2 = {nyq}")
    if (width is None) == (beta is None):
        raise ValueError("give exactly one of width and beta")
    if width is not None:
        beta = kaiser_beta(2.285 * (numtaps - 1) * math.pi * (width / nyq) + 7.95)
    fc = cutoff / nyq
    m = np.arange(numtaps) - (numtaps - 1) / 2
    h = fc * np.sinc(fc * m) * np.kaiser(numtaps, beta)
    return h / h.sum()


def resample_poly(x: np.ndarray, up: int, down: int, block: int = 1 << 15) -> np.ndarray:
    """Resample ``x [N]`` by the rational factor up / down: ceil(N * up / down) samples (float64).

    In effect: insert up - 1 zeros between samples, low-pass at min(1 / up, 1 / down) of the Nyquist rate with a
    Kaiser-windowed sinc (beta 5, 10 zero crossings each side, gain ``up``), keep every ``down``-th sample. Only the
    taps that meet a real sample are computed (the polyphase form): output n is centred on input time n * down / up,
    y[n] = sum_i x[i] h[n * down + L - i * up] with L the filter's half length and the signal zero outside [0, N).
    The outputs that share a phase (n * down + L mod up) share their taps, and their input windows step by ``down``
    samples: one strided matrix-vector product per phase, ``block`` outputs at a time (memory stays small).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"resample_poly takes one signal [N], got shape {x.shape}")
    g = math.gcd(up, down)
    up, down = up // g, down // g
    if up == down == 1:
        return x.copy()
    rate = max(up, down)
    half = 10 * rate
    h = lowpass(2 * half + 1, 1.0 / rate, beta=5.0) * up
    n_taps = -(-(2 * half + 1) // up)                               # taps per phase
    h = np.concatenate([h, np.zeros(n_taps * up - len(h))])        # every phase gets n_taps taps
    n_out = -(-len(x) * up // down)
    xp = np.concatenate([np.zeros(n_taps), x, np.zeros(n_taps)])  # zeros outside the signal
    windows = np.lib.stride_tricks.sliding_window_view(xp, n_taps)  # windows[s] = xp[s:s + n_taps], a view
    out = np.empty(n_out)
    for n0 in range(min(up, n_out)):                                # outputs n0, n0 + up, ... share a phase
        p = n0 * down + half                                        # the output's place in the upsampled signal
        taps = h[p % up::up][::-1]                                  # h[p % up + j up], j = n_taps - 1 .. 0
        first = p // up + 1                                         # window of x[p // up - n_taps + 1 .. p // up]
        count = len(range(n0, n_out, up))
        for t in range(0, count, block):
            c = min(block, count - t)
            out[n0 + t * up:n0 + (t + c) * up:up] = windows[first + t * down:first + (t + c) * down:down] @ taps
    return out
