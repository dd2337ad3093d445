"""The one size switch: ``STYLETALKER_PROFILE`` = quick | default | full.

Every size knob in the project comes from a small dataclass with one preset per profile, picked by
:func:`profile` (the environment variable) or by an explicit ``--profile`` on the command line.
"""
from __future__ import annotations

import dataclasses
import os

from .errors import StyletalkerError

PROFILES = ("quick", "default", "full")


def profile(name: str | None = None) -> str:
    """The active profile: ``name`` if given, else ``$STYLETALKER_PROFILE``, else ``default``."""
    name = name or os.environ.get("STYLETALKER_PROFILE") or "default"
    if name not in PROFILES:
        raise StyletalkerError(f"unknown profile {name!r}: choose one of {', '.join(PROFILES)} "
                               f"(set STYLETALKER_PROFILE or pass --profile)")
    return name


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Size of a generated dataset of the synthetic world."""
    resolution: int          # frame side in pixels
    n_identities: int        # identities over all splits
    clips_per_identity: int  # sentences spoken by each identity
    val_identities: int      # identities held out for validation
    test_identities: int     # identities held out for testing (never seen in training)
    fps: int = 25            # video frame rate
    sample_rate: int = 16000 # audio sample rate
    seed: int = 0            # root seed of the whole dataset
    max_words: int = 12      # sentence length cap (words)


DATA_PRESETS = {
    "quick": DataConfig(resolution=32, n_identities=10, clips_per_identity=3, val_identities=2,
                        test_identities=2, max_words=8),
    "default": DataConfig(resolution=64, n_identities=80, clips_per_identity=8, val_identities=8,
                          test_identities=12),
    "full": DataConfig(resolution=128, n_identities=400, clips_per_identity=16, val_identities=20,
                       test_identities=40),
}


def data_config(name: str | None = None, **overrides) -> DataConfig:
    """The dataset preset for a profile, with optional field overrides."""
    return dataclasses.replace(DATA_PRESETS[profile(name)], **overrides)


def from_json(value):
    """A config value read back from JSON: lists become tuples again (configs are frozen, so they hold tuples)."""
    return tuple(from_json(v) for v in value) if isinstance(value, list) else value


def check_config_match(saved: dict, expected) -> None:
    """Raise a clear error when a saved config differs from the expected dataclass, naming the first field."""
    for field in dataclasses.fields(expected):
        if field.name in saved and from_json(saved[field.name]) != getattr(expected, field.name):
            raise StyletalkerError(
                f"config mismatch in field {field.name!r}: saved {saved[field.name]!r}, "
                f"expected {getattr(expected, field.name)!r}; load with the config that was saved")
