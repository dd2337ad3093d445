"""The small committed assets in ``data/samples/``: portraits and speech made by the project itself.

``python -m styletalker.data.samples`` rewrites them (deterministically) from the seeds below.
"""
from __future__ import annotations

import pathlib

import numpy as np
import torch

from ..paths import DATA_DIR

PORTRAIT_SEEDS = (0, 1, 2, 3)
SPEECH = [("hello.wav", "Hello! I am a synthetic face, and I speak with real text to speech.", "en-us+f3"),
          ("morning.wav", "Good morning. The blue boat will pass the bridge at noon.", "en-us+m3")]


def portrait(seed: int, resolution: int = 256) -> np.ndarray:
    """A frontal portrait of identity ``seed`` at rest: uint8 [R, R, 3]."""
    from ..world import head, render
    ident = head.sample_identities(1, torch.Generator().manual_seed(seed))
    img, _ = render.render(ident, head.rest_frames(1), resolution)
    return render.to_uint8(img)[0]


def make_samples(folder: pathlib.Path = DATA_DIR / "samples") -> list[pathlib.Path]:
    """Write the sample portraits (PNG) and speech (WAV, 16 kHz) into ``folder``."""
    from PIL import Image

    from ..audio import save_wav
    from ..tts import synthesize
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in PORTRAIT_SEEDS:
        p = folder / f"portrait_{s}.png"
        Image.fromarray(portrait(s)).save(p)
        paths.append(p)
    for name, text, voice in SPEECH:
        sp = synthesize(text, voice=voice)
        save_wav(folder / name, sp.audio, sp.sample_rate)
        paths.append(folder / name)
    return paths


if __name__ == "__main__":
    for p in make_samples():
        print(p)
