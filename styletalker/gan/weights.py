"""The shipped generator weights (``styletalker/weights/``) and loading any saved generator."""
from __future__ import annotations

import pathlib

from ..checkpoint import load_model
from ..paths import WEIGHTS_DIR  # re-exported: where shipped weights live
from .generator import Generator, GeneratorConfig

SHIPPED_GENERATOR = WEIGHTS_DIR / "generator_default"
# G_I distilled to two thirds of its channels (st.gan.distill, 'styletalker train distill'): the same W+ codes, the
# same images to about 33 dB, 1.6x faster on a CPU. Video generation renders with it by default.
SHIPPED_RENDERER = WEIGHTS_DIR / "generator_default_distilled"


def load_generator(path=None, expected: GeneratorConfig | None = None, device="cpu") -> Generator:
    """Load a generator saved by ``styletalker train generator`` (default: the shipped 64 px G_I), in eval mode.

    expected: a config the caller needs; a file trained with another config fails naming the differing field.
    """
    path = pathlib.Path(path) if path else SHIPPED_GENERATOR
    return load_model(path, Generator, GeneratorConfig, kind="generator", expected=expected, device=device)


def load_renderer(path=None, device="cpu") -> Generator:
    """The generator that video generation renders with: PATH, else the shipped distilled G_I (``SHIPPED_RENDERER``;
    it reads G_I's codes, so Enc_I and the talker drive it unchanged), in eval mode."""
    return load_generator(path or SHIPPED_RENDERER, device=device)
