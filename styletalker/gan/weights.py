"""The shipped generator weights (``styletalker/weights/``) and loading any saved generator."""
from __future__ import annotations

import pathlib

from ..checkpoint import load_model
from ..paths import WEIGHTS_DIR, talking_pair  # WEIGHTS_DIR re-exported: where shipped weights live
from .generator import Generator, GeneratorConfig

SHIPPED_GENERATOR = WEIGHTS_DIR / "generator_default"
# G_I distilled to two thirds of its channels (st.gan.distill, 'styletalker train distill'): the same W+ codes, the
# same images to about 33 dB, 1.6x faster on a CPU.
SHIPPED_DISTILLED = WEIGHTS_DIR / "generator_default_distilled"
# The distilled G_I and Enc_I fine-tuned together by the detail stage ('styletalker train detail'): sharper mouths.
# Video generation renders with it by default, with its own encoder (inversion.invert.SHIPPED_RENDER_ENCODER).
SHIPPED_RENDERER = talking_pair("default")[0]


def load_generator(path=None, expected: GeneratorConfig | None = None, device="cpu") -> Generator:
    """Load a generator saved by ``styletalker train generator`` (default: the shipped 64 px G_I), in eval mode.

    expected: a config the caller needs; a file trained with another config fails naming the differing field.
    """
    path = pathlib.Path(path) if path else SHIPPED_GENERATOR
    return load_model(path, Generator, GeneratorConfig, kind="generator", expected=expected, device=device)


def load_renderer(path=None, device="cpu") -> Generator:
    """The generator that video generation renders with, in eval mode: PATH, else ``SHIPPED_RENDERER``, the detail
    stage's fine-tune of the distilled G_I. Its codes come from its own encoder,
    ``st.inversion.invert.load_render_encoder()``."""
    return load_generator(path or SHIPPED_RENDERER, device=device)
