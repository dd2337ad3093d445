"""Audio input/output and the audio features a_t of StyleTalker (our reconstruction).

The paper only says that audio features a_{0:T} drive the w manipulation module and the lip-sync
discriminator. We use the standard SyncNet/Wav2Lip front end: 16 kHz mono, log-mel with 80 bands,
n_fft 512, a 25 ms window and a 10 ms hop (100 mel frames per second, 4 per video frame at 25 fps),
and a 0.2 s window of mel frames around each video frame.

Everything here is computed in plain torch/numpy (torchaudio does not run beside our torch build);
:func:`mel_filterbank` reproduces ``librosa.filters.mel(htk=False, norm='slaney')`` and the tests
compare :func:`log_mel` with librosa.

Layout tags: ``[N]`` audio samples, ``[M, F]`` mel bands by mel frames, ``[T]`` video frames,
``[W]`` mel frames in one window.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
import pathlib
import subprocess
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

from .errors import StyletalkerError
from .fir import resample_poly


# --------------------------------------------------------------------------- samples and files

def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling of ``x [..., N]`` from ``sr_in`` to ``sr_out`` Hz along the last axis.

    Returns float32 ``[..., ceil(N * sr_out / sr_in)]``. The ratio is reduced by the gcd first, so
    22050 -> 16000 runs as up 320 / down 441.
    """
    x = np.asarray(x, dtype=np.float32)
    if sr_in <= 0 or sr_out <= 0:
        raise StyletalkerError(f"sample rates must be positive, got {sr_in} -> {sr_out}: "
                               "pass rates in Hz such as 16000")
    if sr_in == sr_out:
        return x.copy()
    g = math.gcd(int(sr_in), int(sr_out))
    rows = x.reshape(-1, x.shape[-1])
    y = np.stack([resample_poly(r, int(sr_out) // g, int(sr_in) // g) for r in rows])
    return y.reshape(*x.shape[:-1], y.shape[-1]).astype(np.float32)


def float_to_int16(x: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] -> int16, clipping anything louder (no wrap-around)."""
    x = np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0)
    return np.round(x * 32767.0).astype(np.int16)


def int16_to_float(x: np.ndarray) -> np.ndarray:
    """int16 -> float32 in [-1, 1]; the inverse of :func:`float_to_int16` (-32768 maps just below -1)."""
    return (np.asarray(x, dtype=np.float32) / 32767.0).astype(np.float32)


def _read_with_ffmpeg(path: pathlib.Path, sample_rate: int) -> np.ndarray | None:
    """Decode any format ffmpeg knows (MP3, M4A, the audio of an MP4) to mono float32, or None."""
    try:
        import imageio_ffmpeg
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # no ffmpeg available: the caller reports the file as unreadable
        return None
    cmd = [exe, "-nostdin", "-v", "error", "-i", str(path), "-vn", "-ac", "1",
           "-ar", str(sample_rate), "-f", "f32le", "-"]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        return None
    return np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32)


def load_audio(path: str | os.PathLike, sample_rate: int = 16000) -> np.ndarray:
    """Read an audio file as mono float32 ``[N]`` at ``sample_rate`` Hz.

    WAV, FLAC and OGG (and MP3 where libsndfile has it) go through soundfile; anything else that
    ffmpeg decodes (MP3, M4A, the audio track of an MP4) through the ffmpeg of ``imageio-ffmpeg``.
    Channels are averaged to mono.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise StyletalkerError(f"audio file {str(path)!r} does not exist: check the path")
    import soundfile                                              # imported here: the renderer needs no audio I/O
    try:
        x, sr = soundfile.read(str(path), dtype="float32", always_2d=True)  # [N, C]
        x = x[:, 0] if x.shape[1] == 1 else x.mean(axis=1)      # a view for mono: no copy of a long file
        x = resample(x, sr, sample_rate)
    except (RuntimeError, soundfile.SoundFileError, ValueError):
        x = _read_with_ffmpeg(path, sample_rate)
        if x is None:
            raise StyletalkerError(f"cannot decode audio file {str(path)!r}: it is corrupt or not "
                                   "audio; re-encode it as 16-bit WAV") from None
    if x.size == 0:
        raise StyletalkerError(f"audio file {str(path)!r} holds no samples: use a file with sound "
                               "in it")
    return np.ascontiguousarray(x, dtype=np.float32)


def save_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int = 16000) -> None:
    """Write mono ``audio [N]`` (float in [-1, 1] or int16) as 16-bit PCM WAV, atomically.

    The file is written next to its destination and moved into place with ``os.replace``, so a
    reader never sees a half-written file.
    """
    path = pathlib.Path(path)
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise StyletalkerError(f"save_wav expects mono audio [N], got shape {audio.shape}: "
                               "downmix first")
    import soundfile
    pcm = audio if audio.dtype == np.int16 else float_to_int16(audio)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            soundfile.write(f, pcm, sample_rate, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# --------------------------------------------------------------------------- log-mel features

@dataclasses.dataclass(frozen=True)
class MelConfig:
    """Log-mel front end (SyncNet/Wav2Lip-style)."""
    sample_rate: int = 16000  # Hz
    n_fft: int = 512          # FFT size; the window is zero-padded to this length
    win_length: int = 400     # periodic Hann window, 25 ms
    hop_length: int = 160     # 10 ms -> 100 mel frames per second
    n_mels: int = 80          # mel bands
    f_min: float = 0.0        # lowest band edge, Hz
    f_max: float = 8000.0     # highest band edge, Hz (Nyquist at 16 kHz)
    log_floor: float = 1e-5   # power floor before the natural log (-11.5 for silence)


# Slaney's mel scale: linear below 1 kHz (3 mel per 200 Hz), logarithmic above.
_F_SP = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP   # 15 mel
_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale (librosa's default, ``htk=False``)."""
    f = np.asarray(f, dtype=np.float64)
    mel = f / _F_SP
    log_part = _MIN_LOG_MEL + np.log(np.maximum(f, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(f >= _MIN_LOG_HZ, log_part, mel)


def mel_to_hz(m: np.ndarray) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    m = np.asarray(m, dtype=np.float64)
    f = m * _F_SP
    log_part = _MIN_LOG_HZ * np.exp(_LOGSTEP * (np.maximum(m, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.where(m >= _MIN_LOG_MEL, log_part, f)


@functools.lru_cache(maxsize=8)
def _filterbank64(cfg: MelConfig) -> np.ndarray:
    n_freq = cfg.n_fft // 2 + 1
    fft_hz = np.linspace(0.0, cfg.sample_rate / 2.0, n_freq)                     # [K]
    # n_mels + 2 band edges, equally spaced in mel; band m rises from edge m to m+1, falls to m+2
    edges = mel_to_hz(np.linspace(hz_to_mel(cfg.f_min), hz_to_mel(cfg.f_max), cfg.n_mels + 2))
    width = np.diff(edges)                                                      # [M+1]
    ramps = edges[:, None] - fft_hz[None, :]                                    # [M+2, K]
    rising = -ramps[:-2] / width[:-1, None]
    falling = ramps[2:] / width[1:, None]
    fb = np.maximum(0.0, np.minimum(rising, falling))                          # [M, K]
    # Slaney area normalisation: each triangle has unit area in Hz (height 2 / base width)
    fb *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return fb


def mel_filterbank(cfg: MelConfig = MelConfig()) -> torch.Tensor:
    """Triangular mel filters ``[n_mels, n_fft // 2 + 1]`` (float32), equal to
    ``librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm='slaney')``."""
    return torch.from_numpy(_filterbank64(cfg).astype(np.float32))


def log_mel(audio: np.ndarray | torch.Tensor, cfg: MelConfig = MelConfig(), block: int = 2048) -> torch.Tensor:
    """Log-mel spectrogram of ``audio [..., N]`` -> ``[..., n_mels, 1 + N // hop_length]``.

    log(max(floor, fb @ |STFT|^2)) with a periodic Hann window of ``win_length`` centred in
    ``n_fft``, and ``center=True`` with reflect padding, so mel frame j is centred on sample
    j * hop_length (time j / 100 s at the defaults). Runs on the device of a torch input.
    The STFT is taken ``block`` frames at a time from the once-padded signal (the same numbers as one
    pass), so a long audio never holds its whole complex spectrogram (5 minutes would be about 60 MB).
    """
    x = torch.as_tensor(np.asarray(audio, dtype=np.float32) if isinstance(audio, np.ndarray)
                        else audio).float()
    n = x.shape[-1]
    if n <= cfg.n_fft // 2:
        raise StyletalkerError(f"audio of {n} samples is too short for log_mel: pass at least "
                               f"{cfg.n_fft // 2 + 1} samples")
    batch = x.shape[:-1]
    pad = cfg.n_fft // 2
    x = F.pad(x.reshape(-1, 1, n), (pad, pad), mode="reflect")[:, 0]          # what center=True does
    window = torch.hann_window(cfg.win_length, periodic=True, device=x.device)
    fb = mel_filterbank(cfg).to(x.device)                                       # [M, K]
    n_frames = 1 + n // cfg.hop_length
    out = []
    for j0 in range(0, n_frames, block):
        j1 = min(j0 + block, n_frames)
        seg = x[:, j0 * cfg.hop_length:(j1 - 1) * cfg.hop_length + cfg.n_fft]
        spec = torch.stft(seg, n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length,
                          window=window, center=False, return_complex=True)     # [B, K, j1 - j0]
        mel = torch.matmul(fb, spec.real ** 2 + spec.imag ** 2)                 # [B, M, j1 - j0]
        out.append(torch.log(torch.clamp(mel, min=cfg.log_floor)))
    out = torch.cat(out, -1)
    return out.reshape(*batch, cfg.n_mels, out.shape[-1])


def mel_frames_for_video(mel: torch.Tensor, n_video_frames: int, fps: float = 25,
                         window_s: float = 0.2, cfg: MelConfig = MelConfig(), first: int = 0) -> torch.Tensor:
    """Cut the mel window around each video frame: ``mel [..., M, F]`` -> ``[..., T, M, W]``, T = n_video_frames
    - first (frames ``first`` .. n_video_frames - 1; long audio is cut chunk by chunk this way).

    Alignment: video frame t covers [t / fps, (t + 1) / fps) and its window is centred on the
    frame's centre (t + 0.5) / fps. Mel frame j is centred on time j * hop / sr, so at the defaults
    (100 mel frames/s, 25 fps, W = 20) frame t takes mel frames 4t - 8 .. 4t + 11; with an even W
    the window's mean time sits half a hop (5 ms) before the video frame's centre. Indices outside
    the clip repeat the first / last mel frame (edge padding).
    """
    mel_rate = cfg.sample_rate / cfg.hop_length                                 # mel frames/s
    w = int(round(window_s * mel_rate))
    if w < 1 or n_video_frames < 0:
        raise StyletalkerError(f"bad window: window_s={window_s}, n_video_frames={n_video_frames}; "
                               "use window_s >= one hop and a non-negative frame count")
    t = torch.arange(first, n_video_frames, dtype=torch.float64)
    centre = (t + 0.5) / fps * mel_rate                                         # [T] in mel frames
    start = torch.floor(centre - (w - 1) / 2.0).long()                          # [T]
    idx = (start[:, None] + torch.arange(w)[None, :]).clamp(0, mel.shape[-1] - 1)  # [T, W]
    out = mel[..., idx.to(mel.device)]                                          # [..., M, T, W]
    return out.movedim(-2, -3)                                                  # [..., T, M, W]


def energy_envelope(audio: np.ndarray, sample_rate: int, fps: float = 25,
                    n_frames: int | None = None) -> np.ndarray:
    """RMS energy per video frame: ``audio [N]`` -> float32 ``[T]``.

    Frame t averages the samples in [t / fps, (t + 1) / fps). T defaults to ceil(N * fps / sr)
    (the last frame is zero-padded); pass ``n_frames`` to match a video's length.
    """
    x = np.asarray(audio, dtype=np.float64)
    n = x.shape[-1]
    if n_frames is None:
        n_frames = int(math.ceil(n * fps / sample_rate))
    bounds = np.round(np.arange(n_frames + 1) * sample_rate / fps).astype(np.int64)
    sq = np.concatenate([[0.0], np.cumsum(x * x)])
    lo, hi = np.minimum(bounds[:-1], n), np.minimum(bounds[1:], n)
    length = (bounds[1:] - bounds[:-1]).clip(min=1)  # zero-padding counts towards the mean
    return np.sqrt((sq[hi] - sq[lo]) / length).astype(np.float32)
