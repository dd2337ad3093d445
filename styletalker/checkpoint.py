"""Saving and loading models: safetensors weights plus a JSON config, never pickled code.

A model file pair is ``NAME.safetensors`` (the state dict) and ``NAME.json`` (``kind``, ``config`` = the dataclass
as a dict, and free-form ``meta`` such as the model card numbers). Loading into a different config fails with a
message naming the first differing field. Training checkpoints (model + optimiser state + step) are written by
:mod:`styletalker.training` with ``torch.save`` and read back with ``weights_only=True``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib

import torch
from safetensors.torch import load_file, save_file

from .config import check_config_match, from_json
from .data.format import atomic_write_json
from .errors import StyletalkerError


def _stem(path) -> pathlib.Path:
    p = pathlib.Path(path)
    return p.with_suffix("") if p.suffix in (".safetensors", ".json") else p


def save_model(path, module: torch.nn.Module, config, kind: str, meta: dict | None = None) -> pathlib.Path:
    """Write NAME.safetensors then NAME.json (both atomically). Returns the .safetensors path."""
    stem = _stem(path)
    stem.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    tmp = stem.parent / f".{stem.name}.tmp{os.getpid()}.safetensors"
    save_file(state, str(tmp))
    os.replace(tmp, stem.with_suffix(".safetensors"))
    atomic_write_json(stem.with_suffix(".json"), dict(kind=kind, config=dataclasses.asdict(config), meta=meta or {}))
    return stem.with_suffix(".safetensors")


def read_model_info(path) -> dict:
    """The JSON half of a saved model: kind, config (dict) and meta."""
    stem = _stem(path)
    js = stem.with_suffix(".json")
    if not js.exists() or not stem.with_suffix(".safetensors").exists():
        raise StyletalkerError(f"model files {stem}.safetensors/.json not found: train it first or pass the right "
                               f"path")
    return json.loads(js.read_text())


def update_meta(path, **entries) -> dict:
    """Add ``entries`` to a saved model's ``meta`` (what a calibration records beside the weights), keeping the rest of
    its JSON; written atomically. Returns the new meta."""
    info = read_model_info(path)
    info.setdefault("meta", {}).update(entries)
    atomic_write_json(_stem(path).with_suffix(".json"), info)
    return info["meta"]


def load_model(path, build, config_cls, kind: str, expected=None, device="cpu") -> torch.nn.Module:
    """Load a saved model: ``build(config)`` makes the module, then its weights are loaded strictly.

    expected: a config the caller requires; a saved config that differs raises naming the first differing field.
    """
    info = read_model_info(path)
    if info.get("kind") != kind:
        raise StyletalkerError(f"{_stem(path)} holds a {info.get('kind')!r}, not a {kind!r}")
    names = {f.name for f in dataclasses.fields(config_cls)}
    saved = {k: from_json(v) for k, v in info["config"].items() if k in names}
    if expected is not None:
        check_config_match(saved, expected)
        for f in dataclasses.fields(expected):                       # a field the file lacks also differs
            if f.name not in saved:
                raise StyletalkerError(f"config mismatch in field {f.name!r}: missing in the saved config")
    cfg = config_cls(**saved)
    module = build(cfg)
    state = load_file(str(_stem(path).with_suffix(".safetensors")))
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise StyletalkerError(f"weights in {_stem(path)} do not fit the {kind}: missing {missing[:3]}, "
                               f"unexpected {unexpected[:3]}")
    return module.to(device).eval()
