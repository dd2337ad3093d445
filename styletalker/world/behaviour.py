"""How the synthetic people speak and move: visemes, head motion in speaking styles, blinks and brows.

Our own construction (DESIGN.md section 2):

* **Visemes.** Each espeak phoneme maps to mouth targets (jaw_open, width, round, closure). Targets are held over the
  phoneme, blended by a Gaussian coarticulation kernel (``COARTICULATION_S``), and the lips lead the sound by
  ``LIP_LEAD_S`` (they start moving before the sound is heard, as in real speech).
* **Head motion.** A stochastic process driven by prosody (the audio's energy envelope and pitch) in one of
  ``STYLES``, drawn per clip, so the same audio can come with distinct motion: the audio-to-motion map is
  multi-modal on purpose.
* **Blinks.** A Poisson process independent of the audio, 10 to 25 a minute, 100 to 250 ms each.
* **Brows.** Raised on some stressed syllables (energy onsets).
"""
from __future__ import annotations

import numpy as np

from ..audio import energy_envelope

LIP_LEAD_S = 0.04        # lips lead the audio by one frame at 25 fps
COARTICULATION_S = 0.03  # std of the Gaussian blending neighbouring visemes
STYLES = ("nodding", "turning", "still")
MOUTH_FIELDS = ("jaw_open", "width", "round", "closure")

# Mouth targets (jaw_open, width, round, closure) by phoneme class. espeak's ASCII phoneme names.
_REST = (0.0, 0.5, 0.0, 0.3)
_CLASSES = [
    (("p", "b", "m"), (0.0, 0.45, 0.0, 1.0)),                       # lips pressed together
    (("f", "v"), (0.08, 0.5, 0.0, 0.6)),                            # lower lip to the teeth
    (("w", "u:", "U", "u", "O:", "O", "oU", "o", "OI", "aU", "0"), (0.35, 0.3, 0.9, 0.0)),
    (("S", "Z", "tS", "dZ"), (0.18, 0.35, 0.6, 0.0)),
    (("a", "A:", "aI", "a#", "A", "V", "aa", "A@", "a@"), (0.85, 0.6, 0.0, 0.0)),
    (("E", "e@", "eI", "3:", "3", "@", "@2", "@L", "@5", "e", "I@"), (0.5, 0.6, 0.0, 0.0)),
    (("i", "i:", "I", "I2", "i@", "j", "#"), (0.25, 0.9, 0.0, 0.0)),
    (("r", "r-"), (0.25, 0.45, 0.5, 0.0)),
    (("s", "z", "t", "d", "n", "l", "T", "D", "k", "g", "N", "h", "x", "?", "t#", "d#"), (0.22, 0.55, 0.0, 0.0)),
]


def viseme(phoneme: str) -> tuple[float, float, float, float]:
    """Mouth targets for one espeak phoneme name (pauses and unknown names fall back sensibly)."""
    name = phoneme.strip().rstrip(";:'").lstrip("',%=") or "_"
    if name.startswith("_"):
        return _REST
    for names, target in _CLASSES:
        if name in names or phoneme.strip() in names:
            return target
    for names, target in _CLASSES:                                 # diphthongs and variants by their first letters
        if any(name.startswith(n) for n in names if len(n) > 1) or name[0] in names:
            return target
    return (0.4, 0.55, 0.0, 0.0)


def _gauss_smooth(x: np.ndarray, sigma: float, axis: int = 0) -> np.ndarray:
    """Gaussian smoothing along ``axis`` with edge padding; sigma in samples."""
    if sigma <= 0:
        return x
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    xp = np.pad(x, [(r, r) if a == axis else (0, 0) for a in range(x.ndim)], mode="edge")
    return np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), axis, xp)


def mouth_track(phonemes, n_frames: int, fps: int = 25, lead: float = LIP_LEAD_S) -> np.ndarray:
    """Mouth parameters per video frame from timed phonemes.

    phonemes: objects with ``name``, ``start``, ``end`` (seconds). Returns [n_frames, 4] (MOUTH_FIELDS) in [0, 1];
    frame t shows the mouth of audio time (t + 0.5) / fps + lead.
    """
    rate = 200                                                     # work at 5 ms steps, then sample the frames
    n = int(np.ceil((n_frames / fps + 0.5) * rate))
    track = np.tile(np.array(_REST, dtype=np.float64), (n, 1))
    for p in phonemes:
        a, b = int(round(p.start * rate)), int(round(p.end * rate))
        track[max(a, 0):max(b, a + 1)] = viseme(p.name)
    track = _gauss_smooth(track, COARTICULATION_S * rate)
    t = (np.arange(n_frames) + 0.5) / fps + lead
    idx = np.clip(np.round(t * rate).astype(int), 0, n - 1)
    return track[idx].astype(np.float32).clip(0, 1)


def pitch_track(audio: np.ndarray, sample_rate: int, n_frames: int, fps: int = 25) -> np.ndarray:
    """Fundamental frequency per video frame (Hz, 0 where unvoiced) by autocorrelation over 40 ms windows."""
    hop = sample_rate // fps
    win = 2 * hop
    lo, hi = sample_rate // 400, sample_rate // 70                # 70-400 Hz
    f0 = np.zeros(n_frames, dtype=np.float32)
    level = np.sqrt(np.mean(audio ** 2) + 1e-12)
    for t in range(n_frames):
        seg = audio[t * hop: t * hop + win]
        if len(seg) < win or np.sqrt(np.mean(seg ** 2)) < 0.5 * level:
            continue
        seg = seg - seg.mean()
        ac = np.correlate(seg, seg, mode="full")[win - 1:]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.3 * ac[0]:
            f0[t] = sample_rate / lag
    return f0


def prosody(audio: np.ndarray, sample_rate: int, n_frames: int, fps: int = 25) -> dict[str, np.ndarray]:
    """Normalised prosody per frame: energy in [0, 1], energy onsets >= 0, pitch deviation (z-score, 0 unvoiced)."""
    e = energy_envelope(audio, sample_rate, fps)[:n_frames]
    e = np.pad(e, (0, n_frames - len(e)))
    e = e / (e.max() + 1e-8)
    onset = np.clip(np.diff(e, prepend=e[:1]), 0, None)
    f0 = pitch_track(audio, sample_rate, n_frames, fps)
    voiced = f0 > 0
    dev = np.zeros_like(f0)
    if voiced.sum() > 2:
        dev[voiced] = (f0[voiced] - f0[voiced].mean()) / (f0[voiced].std() + 1e-6)
    return dict(energy=e.astype(np.float32), onset=onset.astype(np.float32), pitch=dev.astype(np.float32))


def _ou(rng: np.random.Generator, n: int, tau: float, sigma: float, fps: int) -> np.ndarray:
    """Ornstein-Uhlenbeck process: correlation time tau (s), stationary std sigma."""
    a = np.exp(-1.0 / (tau * fps))
    x = np.empty(n)
    x[0] = rng.normal() * sigma
    noise = rng.normal(size=n) * sigma * np.sqrt(1 - a * a)
    for i in range(1, n):
        x[i] = a * x[i - 1] + noise[i]
    return x


def head_motion(pros: dict[str, np.ndarray], style: str, rng: np.random.Generator, resolution: int,
                fps: int = 25) -> np.ndarray:
    """Pose per frame in a speaking style: [T, 6] = yaw, pitch, roll (degrees), tx, ty (pixels), scale.

    nodding: pitch swings (a damped 2.5 Hz response to energy onsets) with little turning;
    turning: slow, wide yaw and roll that follow the pitch contour and the energy;
    still: nearly motionless.
    """
    if style not in STYLES:
        raise ValueError(f"unknown speaking style {style!r}: choose one of {STYLES}")
    n = len(pros["energy"])
    e, onset, f0 = pros["energy"], pros["onset"], pros["pitch"]
    base = np.array([rng.uniform(-10, 10), rng.uniform(-6, 6), rng.uniform(-5, 5)])
    if style == "nodding":
        # A damped oscillator driven by onsets: each stressed syllable starts a nod.
        w, zeta = 2 * np.pi * 2.5 / fps, 0.35
        drive = _gauss_smooth(onset, 1.0) * rng.uniform(60, 90)
        nod = np.zeros(n)
        v = x = 0.0
        for i in range(n):
            acc = drive[i] * w * w - 2 * zeta * w * v - w * w * x
            v += acc
            x += v
            nod[i] = x
        pitch = nod + 2.0 * e + _ou(rng, n, 0.8, 1.0, fps)
        yaw = _ou(rng, n, 1.5, 2.0, fps)
        roll = _ou(rng, n, 1.5, 1.0, fps)
    elif style == "turning":
        yaw = _ou(rng, n, 1.2, 9.0, fps) + 4.0 * _gauss_smooth(f0, 3.0)
        roll = _ou(rng, n, 1.0, 5.0, fps) + 3.0 * _gauss_smooth(e, 3.0)
        pitch = _ou(rng, n, 1.0, 1.5, fps)
    else:
        yaw = _ou(rng, n, 2.0, 0.8, fps)
        pitch = _ou(rng, n, 2.0, 0.5, fps)
        roll = _ou(rng, n, 2.0, 0.4, fps)
    ang = np.stack([yaw, pitch, roll], 1) + base
    ang = np.clip(ang, [-28, -16, -14], [28, 16, 14])
    # The head sways a little with its rotation and drifts slowly.
    tx = 0.012 * resolution * (ang[:, 0] / 10) + _ou(rng, n, 2.0, 0.01 * resolution, fps)
    ty = 0.008 * resolution * (ang[:, 1] / 10) + _ou(rng, n, 2.0, 0.006 * resolution, fps)
    scale = 1.0 + rng.uniform(-0.06, 0.06) + _ou(rng, n, 3.0, 0.01, fps)
    return np.concatenate([ang, tx[:, None], ty[:, None], scale[:, None]], 1).astype(np.float32)


def blinks(n: int, rng: np.random.Generator, fps: int = 25) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Eye openness per frame [n, 2] in [0, 1] and the blinks as (start_s, duration_s).

    A Poisson process at a per-clip rate of 10-25 per minute, at least 0.5 s apart; each blink closes fast
    (40 % of its duration) and opens more slowly.
    """
    rate = rng.uniform(10, 25) / 60.0
    t, events = rng.exponential(1 / rate), []                    # memoryless: the clip starts anywhere
    while t < n / fps:
        events.append((t, rng.uniform(0.10, 0.25)))
        t += max(0.5, rng.exponential(1 / rate))
    open_level = rng.uniform(0.85, 1.0)
    times = (np.arange(n) + 0.5) / fps
    closed = np.zeros(n)
    for start, dur in events:
        u = (times - start) / dur
        close = np.where(u < 0.4, u / 0.4, (1 - u) / 0.6)
        closed = np.maximum(closed, np.clip(close, 0, 1) * ((u >= 0) & (u <= 1)))
    # Sample the blink at a finer step so that short blinks are never missed between frames.
    for start, dur in events:
        i = int(np.clip((start + 0.4 * dur) * fps, 0, n - 1))
        closed[i] = max(closed[i], 0.95)
    eye = open_level * (1 - closed)
    both = np.stack([eye, eye], 1) * (1 + 0.03 * rng.normal(size=(1, 2)))
    return both.clip(0, 1).astype(np.float32), events


def brow_track(pros: dict[str, np.ndarray], rng: np.random.Generator, fps: int = 25) -> np.ndarray:
    """Brow raise per frame in [0, 1]: some strong energy onsets raise the brows, which then relax (0.3 s)."""
    n = len(pros["onset"])
    strong = pros["onset"] > np.quantile(pros["onset"], 0.9) if n > 10 else np.zeros(n, bool)
    kick = strong & (rng.uniform(size=n) < rng.uniform(0.1, 0.5))
    a = np.exp(-1.0 / (0.3 * fps))
    b = np.zeros(n)
    for i in range(n):
        b[i] = max(b[i - 1] * a if i else 0.0, 0.8 * kick[i])
    return b.astype(np.float32)
