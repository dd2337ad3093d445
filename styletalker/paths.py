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
