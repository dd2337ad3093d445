"""Making videos with the trained talker: motion-controllable (paper's first inference mode) and audio-driven.

    reference image --Enc_I--> W+_ref;   audio --log-mel--> one 0.2 s window per output frame (25 fps)
    motion-controllable: motion video --face crop--> Enc_I --> posterior mean m_t   (``motion`` given)
    audio-driven:        m_t sampled from the prior with a temperature               (no ``motion``)
    W+_hat_t = W+_ref + f(W+_ref, a_t, m_t) --G_I--> frames --> mp4 with the audio

A motion clip shorter than the audio is played forwards and backwards (ping-pong), so the head never jumps back to
the first frame's pose; a longer one is cut to the audio's length.
"""
from __future__ import annotations

import math
import pathlib

import numpy as np
import torch

from ..audio import MelConfig, log_mel, mel_frames_for_video
from ..checkpoint import load_model, read_model_info
from ..errors import StyletalkerError
from ..gan.weights import WEIGHTS_DIR
from .model import Talker
from .modules import TalkerConfig

SHIPPED_TALKER = WEIGHTS_DIR / "talker_default"
FPS = 25


def load_talker(path=None, expected: TalkerConfig | None = None, device="cpu") -> Talker:
    """A saved talker; its ``default_temperature`` and ``default_lip_gain`` are the calibrated ones in its metadata
    (``temperature``, ``lip_gain``), else 1."""
    path = pathlib.Path(path) if path else SHIPPED_TALKER
    net = load_model(path, Talker, TalkerConfig, kind="talker", expected=expected, device=device)
    net.default_temperature, net.default_lip_gain = recorded_temperature(path), recorded_lip_gain(path)
    return net


def _recorded_meta(path=None) -> dict:
    """A saved talker's metadata (the shipped talker's where ``path`` is None), where calibrations record their
    choices."""
    return read_model_info(pathlib.Path(path) if path else SHIPPED_TALKER).get("meta", {})


def recorded_temperature(path=None) -> float:
    """The sampling temperature calibrated for a saved talker (its metadata's ``temperature``), else 1."""
    return float(_recorded_meta(path).get("temperature", 1.0))


def recorded_lip_gain(path=None) -> float:
    """The lip gain calibrated for a saved talker (its metadata's ``lip_gain``), else 1."""
    return float(_recorded_meta(path).get("lip_gain", 1.0))


def check_temperature(temperature) -> None:
    """None (the talker's default) or a number > 0."""
    if temperature is not None and not temperature > 0:                       # also refuses NaN
        raise StyletalkerError(f"temperature {temperature} must be > 0 (1 = the prior as trained; leave it out for "
                               f"the talker's calibrated default)")


def check_lip_gain(lip_gain) -> None:
    """None (the talker's default) or a number in [0, 4]."""
    if lip_gain is not None and not 0 <= lip_gain <= 4:                       # also refuses NaN
        raise StyletalkerError(f"lip gain {lip_gain} must be between 0 and 4 (1 = the lips as trained, 0 = the "
                               f"reference's mouth kept; leave it out for the talker's calibrated default)")


def check_audio(audio: np.ndarray) -> np.ndarray:
    """Refuse audio that cannot drive a face: not mono [N], empty, NaN/inf, or silent (peak below -80 dB).

    Returns the audio as float32 [N]; called before any model work so that bad input costs nothing."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise StyletalkerError(f"the audio must be mono samples [N], got shape {audio.shape}: average the channels")
    if audio.size == 0 or not np.isfinite(audio).all():
        raise StyletalkerError("the audio is empty or holds NaN/inf samples: pass a file with sound in it")
    if np.abs(audio).max() < 1e-4:
        raise StyletalkerError("the audio is silent (peak below -80 dB): pass speech")
    return audio


def audio_windows(audio: np.ndarray, sample_rate: int = 16000) -> torch.Tensor:
    """Mono float audio -> the mel window of each 25 fps output frame: [T, 80, 20], T = ceil(seconds * 25)."""
    frames = AudioFrames(audio, sample_rate)
    return frames.windows(0, frames.n)[0]


class AudioFrames:
    """The mel windows of a long audio, cut on demand: ``windows(t0, t1)`` -> [1, t1 - t0, 80, 20] (the log-mel of
    the whole audio is small, 100 x 80 floats a second; the windows would be 20x that, so they are never all made)."""

    def __init__(self, audio: np.ndarray, sample_rate: int = 16000):
        audio = check_audio(audio)
        self.cfg = MelConfig(sample_rate=sample_rate)
        self.n = max(1, math.ceil(len(audio) / sample_rate * FPS))
        self.mel = log_mel(audio, self.cfg)                                    # [80, F]

    def windows(self, t0: int, t1: int) -> torch.Tensor:
        return mel_frames_for_video(self.mel, t1, FPS, 0.2, self.cfg, first=t0)[None]


class _Windows:
    """Ready mel windows [1, T, 80, 20] behind the :class:`AudioFrames` interface."""

    def __init__(self, mel: torch.Tensor):
        self.mel, self.n = mel, mel.shape[1]

    def windows(self, t0: int, t1: int) -> torch.Tensor:
        return self.mel[:, t0:t1]


def audio_features(talker: Talker, frames, t0: int, t1: int) -> torch.Tensor:
    """a_t for frames t0..t1-1 of ``frames`` (:class:`AudioFrames` or ready windows [1, T, 80, 20]): [1, t1 - t0, A].

    The audio encoder's context convolution sees one frame either side, so the chunk is encoded with one frame of
    margin each side and trimmed: any chunking gives the values of one pass over the whole audio."""
    frames = _Windows(frames) if isinstance(frames, torch.Tensor) else frames
    lo, hi = max(t0 - 1, 0), min(t1 + 1, frames.n)
    return talker.audio(frames.windows(lo, hi))[:, t0 - lo:t1 - lo]


def ping_pong(n_have: int, n_need: int) -> np.ndarray:
    """Frame indices 0..n_have-1 played forwards then backwards until n_need indices: [n_need]."""
    if n_have <= 1:
        return np.zeros(n_need, int)
    cycle = np.concatenate([np.arange(n_have), np.arange(n_have - 2, 0, -1)])
    return cycle[np.arange(n_need) % len(cycle)]


TRACK_STRIDE = 2   # dlib on every 2nd frame of a driving video: boxes 0.2-0.3 px from every frame's on average
#                   (benchmarks/tracking_stride.py; dlib's own box moves up to 3 px between frames), 1.6x faster


def motion_crops(path, resolution: int, analyzer=None, stride: int = TRACK_STRIDE) -> np.ndarray:
    """A motion video -> uint8 [T, R, R, 3] face crops at 25 fps (dlib-tracked crops as ``prepare`` makes them, the
    detector on every ``stride``-th frame, boxes interpolated between; a video already at R x R is taken as
    crops)."""
    from ..data.prepare import _resampled_frames, crop_frame, track_boxes
    from ..videoio import video_info
    info = video_info(path)
    frames = list(_resampled_frames(path, FPS, float(info.get("fps") or FPS), None))
    if not frames:
        raise StyletalkerError(f"motion video {path} has no frames: pass an mp4 with a face in it")
    if frames[0].shape[:2] == (resolution, resolution):
        return np.stack(frames)
    if analyzer is None:
        from ..face import FaceAnalyzer
        analyzer = FaceAnalyzer()
    boxes = track_boxes(frames, analyzer, stride)
    if boxes is None:
        raise StyletalkerError(f"dlib finds no face in the motion video {path}: pass a video of a face")
    return np.stack([crop_frame(f, b, resolution) for f, b in zip(frames, boxes)])


def render(G, ws: torch.Tensor, batch: int = 64, precision: str = "fp32") -> np.ndarray:
    """W+ [T, K, D] -> uint8 frames [T, R, R, 3]; ``precision``: see :func:`styletalker.gan.generator.synthesize`."""
    from ..gan.generator import synthesize, to_uint8
    return np.concatenate([to_uint8(synthesize(G, ws[a:a + batch], precision)) for a in range(0, len(ws), batch)])


def generate(image, audio: np.ndarray, motion=None, talker: Talker | None = None, G=None, E=None,
             temperature: float | None = None, seed: int = 0, still: bool = False, chunk: int = 250,
             sample_rate: int = 16000, progress: bool = False, precision: str = "fp32",
             lip_gain: float | None = None) -> tuple[np.ndarray, list[str]]:
    """A talking-head video: (uint8 frames [T, R, R, 3] at 25 fps, warnings). :func:`generate_chunks` with the
    chunks joined; see there."""
    chunks, warnings = generate_chunks(image, audio, motion, talker, G, E, temperature, seed, still, chunk,
                                       sample_rate, progress, precision, lip_gain)
    return np.concatenate(list(chunks)), warnings


def generate_chunks(image, audio: np.ndarray, motion=None, talker: Talker | None = None, G=None, E=None,
                    temperature: float | None = None, seed: int = 0, still: bool = False, chunk: int = 250,
                    sample_rate: int = 16000, progress: bool = False, precision: str = "fp32",
                    lip_gain: float | None = None):
    """A talking-head video as it is made: (an iterator of uint8 frame chunks [t, R, R, 3] at 25 fps, warnings).

    image: path or uint8 [H, W, 3]; audio: mono float32 at ``sample_rate``; motion: a video path, uint8 crops
    [T, R, R, 3], or None (the prior samples the motion, seeded, at ``temperature`` > 0, by default the talker's
    ``default_temperature``; ``still`` keeps m_t = 0, lips only). The reference is inverted and the audio checked
    before this returns (bad input fails early); the frames are made lazily, ``chunk`` at a time: audio features,
    the prior (its state carried across chunks) and rendering, so memory does not grow with the audio's length when
    the chunks are written away (``videoio.write_video`` takes the iterator). Any ``chunk`` gives the same video.
    ``progress`` shows a bar over the frames. ``lip_gain`` scales the audio path's offset (default: the talker's
    ``default_lip_gain``, calibrated; 1 = as trained).
    ``precision`` bf16 renders under bfloat16 autocast (faster on CPUs with bf16 units; 48 dB from fp32)."""
    from tqdm.auto import tqdm

    from ..gan.generator import check_precision
    from ..gan.weights import load_renderer
    from ..inversion.invert import encode, invert, load_render_encoder
    check_temperature(temperature)
    check_lip_gain(lip_gain)
    check_precision(precision)
    G = G if G is not None else load_renderer()
    E = E if E is not None else load_render_encoder()
    talker = talker if talker is not None else load_talker()
    temperature = talker.default_temperature if temperature is None else temperature
    lip_gain = talker.lip_gain(lip_gain)
    frames = AudioFrames(audio, sample_rate)
    ref = invert(image, E, G)
    ws_ref = ref.ws                                                            # [1, K, D]
    T = frames.n
    if motion is not None:
        crops = motion_crops(motion, G.cfg.resolution) if isinstance(motion, (str, pathlib.Path)) else motion
        order = ping_pong(len(crops), T)
        ws_video = encode(E, crops)                                            # [T', K, D], each frame once

    def chunks():
        bar = tqdm(total=T, desc="generating", unit="frame", disable=not progress, leave=False)
        with torch.no_grad():
            if motion is not None:
                # the posterior's GRU is bidirectional: it reads the whole (ping-pong) motion sequence at once;
                # its codes are small next to frames, and m_t is [T, motion_dim]
                mu = talker.motion_of(ws_video[order][None], ws_video[:1])
                for t0 in range(0, T, chunk):
                    t1 = min(t0 + chunk, T)
                    yield render(G, talker.compose(ws_ref, audio_features(talker, frames, t0, t1), mu[:, t0:t1],
                                                   lip_gain)[0], precision=precision)
                    bar.update(t1 - t0)
            else:
                for a_c, m in sample_motion(talker, ws_ref, frames, temperature, seed, still, chunk):
                    yield render(G, talker.compose(ws_ref, a_c, m, lip_gain)[0], precision=precision)
                    bar.update(a_c.shape[1])
        bar.close()
    return chunks(), ref.warnings


@torch.no_grad()                                   # on a generator function torch enters no_grad around each step
def sample_motion(talker: Talker, ws_ref: torch.Tensor, mel, temperature: float = 1.0, seed: int = 0,
                  still: bool = False, chunk: int = 250):
    """Audio-driven motion, chunk by chunk: yields (a_t [1, t, A], m_t [1, t, M]) for t <= ``chunk`` frames.

    ws_ref [1, K, D]; mel: windows [1, T, 80, 20] or :class:`AudioFrames`. a_t is computed per chunk with one frame
    of context either side (:func:`audio_features`: the same values as one pass); the prior's state and the seeded
    generator are carried across chunks, so any ``chunk`` gives the same m_t. ``still`` gives m_t = 0 (lips only)."""
    gen, state = torch.Generator().manual_seed(seed), None
    T = mel.shape[1] if isinstance(mel, torch.Tensor) else mel.n
    e_ref = talker.e_ref(ws_ref)                                               # [1, hidden]
    for t0 in range(0, T, chunk):
        a_c = audio_features(talker, mel, t0, min(t0 + chunk, T))
        if still:
            m = torch.zeros(1, a_c.shape[1], talker.cfg.motion_dim)
        else:
            m, state = talker.prior.sample(a_c, e_ref, temperature, state, gen)
        yield a_c, m
