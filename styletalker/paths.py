"""Where things live: the package's bundled assets, the repo's data folder and the generated-data cache.

Notebooks and tests get every path from here (nbmake runs a notebook with its own folder as working directory).
"""
from __future__ import annotations

import os
import pathlib

PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
DATA_DIR = REPO_DIR / "data"
WEIGHTS_DIR = PACKAGE_DIR / "weights"


def cache_dir() -> pathlib.Path:
    """Folder for generated datasets and decoded caches (git-ignored); override with STYLETALKER_CACHE."""
    env = os.environ.get("STYLETALKER_CACHE")
    path = pathlib.Path(env) if env else DATA_DIR / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def portable(path) -> str:
    """A path as recorded in model metadata: relative to the repository when inside it (no machine's absolute path)."""
    p = pathlib.Path(path).resolve()
    try:
        return str(p.relative_to(REPO_DIR))
    except ValueError:
        return str(path)


def profile_model(name: str, stage: str, prof: str) -> pathlib.Path:
    """The model ``<name>_<prof>`` that a command of profile ``prof`` uses by default: the shipped file for the
    default profile, else what ``styletalker train <stage> --profile <prof>`` writes (out/train/NAME/NAME)."""
    from .errors import StyletalkerError
    stem = f"{name}_{prof}"
    if prof == "default":
        return WEIGHTS_DIR / stem
    trained = pathlib.Path("out") / "train" / stem / stem
    if not trained.with_suffix(".safetensors").exists():
        raise StyletalkerError(f"no {prof} {name}: train one with 'styletalker train {stage} --profile {prof}' or "
                               f"pass its NAME")
    return trained


def talking_model(which: str, prof: str) -> pathlib.Path:
    """One model of the pair that the talker learns on and video generation renders with, by default: ``which`` is
    ``"generator"`` or ``"encoder"``.

    For the default profile, the shipped ``generator_default_detail`` or ``encoder_default_detail``. The detail stage
    fine-tuned the distilled G_I and Enc_I together there, with the loss weighted at the face. Its codes are its own,
    so its encoder goes with it. For other profiles, the profile's G_I or Enc_I (looked up alone, so that a command
    given one of the two does not need the other trained).
    """
    if which not in ("generator", "encoder"):
        raise ValueError(f"which is 'generator' or 'encoder', not {which!r}")
    if prof == "default":
        return WEIGHTS_DIR / f"{which}_default_detail"
    return profile_model(which, which, prof)


def talking_pair(prof: str) -> tuple[pathlib.Path, pathlib.Path]:
    """(generator, encoder) that the talker learns on and video generation renders with, by default
    (:func:`talking_model` of each)."""
    return talking_model("generator", prof), talking_model("encoder", prof)


def talking_dsync(prof: str) -> pathlib.Path:
    """The D_sync of the talker's lip-sync loss, by default.

    For the default profile, the shipped ``dsync_default_talking``: ``dsync_default`` fine-tuned on a mix of the
    world's frames and the talking pair's inversions G(Enc_I(x)) of the same frames (session 20), so that it reads the
    mouths the talker's renderer draws (``dsync_default`` alone rejects them, and its gradient then pushes the frames
    off the renderer's manifold instead of moving the lips). For other profiles, the profile's D_sync.
    """
    if prof == "default":
        return WEIGHTS_DIR / "dsync_default_talking"
    return profile_model("dsync", "sync", prof)
