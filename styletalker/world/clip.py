"""One talking-head clip of the synthetic world: a person (identity + voice) says a sentence in a speaking style.

Text -> espeak speech with phoneme times -> visemes, prosody-driven head motion, blinks, brows -> rendered frames
with exact labels. Everything is drawn from one seed, so a clip is reproducible from (identity, text, voice, style,
seed).
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import torch

from . import WORLD_REVISION, behaviour, head, render

if TYPE_CHECKING:                                                # speech is imported lazily at run time
    from .. import tts


@dataclasses.dataclass
class Clip:
    """A rendered clip with its ground truth."""
    frames: np.ndarray   # uint8 [T, H, W, 3]
    audio: np.ndarray    # float32 [T * sample_rate / fps] mono
    labels: dict         # landmarks [T, 68, 2], pose [T, 6], eye_open [T, 2], mouth [T, 4], brow [T] (float32)
    meta: dict           # text, voice, style, phonemes, words, blinks, identity factors, seeds, lip lead
    fps: int = 25
    sample_rate: int = 16000


def frame_params(pose: np.ndarray, eyes: np.ndarray, brow: np.ndarray, mouth: np.ndarray) -> dict[str, torch.Tensor]:
    """Per-frame renderer inputs from label arrays ([T, 6], [T, 2], [T], [T, 4]) -> FRAME_FIELDS -> [T]."""
    t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)  # noqa: E731
    out = dict(yaw=t(pose[:, 0]), pitch=t(pose[:, 1]), roll=t(pose[:, 2]), tx=t(pose[:, 3]), ty=t(pose[:, 4]),
               scale=t(pose[:, 5]), eye_r=t(eyes[:, 0]), eye_l=t(eyes[:, 1]), brow=t(brow))
    out.update({k: t(mouth[:, i]) for i, k in enumerate(behaviour.MOUTH_FIELDS)})
    return out


def render_frames(identity: torch.Tensor, params: dict[str, torch.Tensor], resolution: int,
                  batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Render T frames of one identity in batches: identity [N_FACTORS] -> (uint8 [T, R, R, 3],
    landmarks [T, 68, 2])."""
    n = len(params["yaw"])
    frames, marks = [], []
    for a in range(0, n, batch):
        sl = {k: v[a:a + batch] for k, v in params.items()}
        b = len(sl["yaw"])
        img, lm = render.render(identity[None].expand(b, -1), sl, resolution)
        frames.append(render.to_uint8(img))
        marks.append(lm.numpy())
    return np.concatenate(frames), np.concatenate(marks).astype(np.float32)


def make_clip(identity: torch.Tensor, text: str, voice: str, style: str, seed: int, resolution: int = 64,
              fps: int = 25, sample_rate: int = 16000, rate: int = 160, pitch: int = 50,
              speech: "tts.Speech | None" = None) -> Clip:
    """Make one clip. identity: [N_FACTORS]; style: one of behaviour.STYLES; seed drives motion and blinks.

    ``speech`` may be given (already synthesised); otherwise the text is spoken with espeak.
    """
    from .. import tts                                            # imported here: rendering needs no speech stack
    rng = np.random.default_rng(seed)
    if speech is None:
        speech = tts.synthesize(text, voice=voice, rate=rate, pitch=pitch, sample_rate=sample_rate)
    n = max(1, int(np.ceil(speech.duration * fps)))
    audio = np.zeros(int(round(n * sample_rate / fps)), dtype=np.float32)
    audio[:min(len(audio), len(speech.audio))] = speech.audio[:len(audio)]
    pros = behaviour.prosody(audio, sample_rate, n, fps)
    mouth = behaviour.mouth_track(speech.phonemes, n, fps)
    pose = behaviour.head_motion(pros, style, rng, resolution, fps)
    eyes, blink_events = behaviour.blinks(n, rng, fps)
    brow = behaviour.brow_track(pros, rng, fps)
    frames, landmarks = render_frames(identity, frame_params(pose, eyes, brow, mouth), resolution)
    labels = dict(landmarks=landmarks, pose=pose, eye_open=eyes, mouth=mouth, brow=brow)
    meta = dict(
        text=text, voice=voice, style=style, seed=int(seed), rate=rate, pitch=pitch,
        phonemes=[(p.name, round(p.start, 4), round(p.end, 4)) for p in speech.phonemes],
        words=[(w.text, round(w.start, 4), round(w.end, 4)) for w in speech.words],
        blinks=[(round(s, 4), round(d, 4)) for s, d in blink_events],
        identity_factors=dict(zip(head.IDENTITY_FACTORS, [round(float(v), 5) for v in identity])),
        lip_lead_s=behaviour.LIP_LEAD_S, world_revision=WORLD_REVISION, fps=fps, sample_rate=sample_rate,
        resolution=resolution,
    )
    return Clip(frames, audio, labels, meta, fps, sample_rate)
