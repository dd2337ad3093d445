"""The shipped generator weights (``styletalker/weights/``) and loading any saved generator."""
from __future__ import annotations

import pathlib

from ..checkpoint import load_model
from ..paths import WEIGHTS_DIR  # re-exported: where shipped weights live
from .generator import Generator, GeneratorConfig

SHIPPED_GENERATOR = WEIGHTS_DIR / "generator_default"


def load_generator(path=None, expected: GeneratorConfig | None = None, device="cpu") -> Generator:
    """Load a generator saved by ``styletalker train generator`` (default: the shipped 64 px G_I), in eval mode.

    expected: a config the caller needs; a file trained with another config fails naming the differing field.
    """
    path = pathlib.Path(path) if path else SHIPPED_GENERATOR
    return load_model(path, Generator, GeneratorConfig, kind="generator", expected=expected, device=device)
