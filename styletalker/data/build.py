"""Build a dataset of the synthetic world: ``styletalker data --profile P --out DIR``.

Deterministic from the profile's seed: identity i gets its factors, voice and sentences from ``seed`` and ``i``
alone, so clips can be made in any order, in parallel, and an interrupted build resumes where it stopped (a clip
whose json exists is complete; see :mod:`styletalker.data.format`). Splits are by identity: test identities are
never seen in training.
"""
from __future__ import annotations

import concurrent.futures as cf
import os
import pathlib

import numpy as np
import torch

from ..config import DataConfig, data_config
from ..errors import StyletalkerError
from ..tts import VOICES
from ..world import WORLD_REVISION, behaviour, clip as clip_mod, head
from ..world.sentences import make_sentences
from . import format as fmt


def identity_name(i: int) -> str:
    return f"id{i:04d}"


def split_of(i: int, cfg: DataConfig) -> str:
    """Identities 0.. are train, then val, then test (their factors are random, so the order carries no bias)."""
    n_train = cfg.n_identities - cfg.val_identities - cfg.test_identities
    return "train" if i < n_train else "val" if i < n_train + cfg.val_identities else "test"


def identity_spec(i: int, cfg: DataConfig) -> dict:
    """Everything about identity i: factors [N_FACTORS], voice, speech rate and pitch, its clips' texts and styles."""
    rng = np.random.default_rng([cfg.seed, i])
    g = torch.Generator().manual_seed(int(rng.integers(2 ** 31)))
    factors = head.sample_identities(1, g)[0]
    voices = sorted(VOICES)
    voice = voices[int(rng.integers(len(voices)))]
    texts = make_sentences(cfg.clips_per_identity, seed=int(rng.integers(2 ** 31)), max_words=cfg.max_words)
    styles = [behaviour.STYLES[int(k)] for k in rng.integers(len(behaviour.STYLES), size=cfg.clips_per_identity)]
    return dict(factors=factors, voice=voice, rate=int(rng.integers(140, 185)), pitch=int(rng.integers(30, 71)),
                texts=texts, styles=styles, clip_seeds=[int(s) for s in rng.integers(2 ** 31, size=len(texts))])


def _build_identity(args) -> int:
    root, i, cfg = args
    torch.set_num_threads(1)
    spec = identity_spec(i, cfg)
    split, name, written = split_of(i, cfg), identity_name(i), 0
    for k, (text, style, seed) in enumerate(zip(spec["texts"], spec["styles"], spec["clip_seeds"])):
        base = pathlib.Path(root) / split / name / f"c{k:02d}"
        if fmt.clip_is_complete(base):
            continue
        c = clip_mod.make_clip(spec["factors"], text, spec["voice"], style, seed, cfg.resolution, cfg.fps,
                               cfg.sample_rate, rate=spec["rate"], pitch=spec["pitch"])
        fmt.write_clip(root, split, name, base.name, c.frames, c.audio, c.labels, c.meta, cfg.fps, cfg.sample_rate)
        written += 1
    return written


def manifest(cfg: DataConfig, profile_name: str | None) -> dict:
    splits = {s: [] for s in fmt.SPLITS}
    for i in range(cfg.n_identities):
        splits[split_of(i, cfg)].append(identity_name(i))
    return dict(format_version=fmt.FORMAT_VERSION, world_revision=WORLD_REVISION, source="synthetic",
                profile=profile_name, resolution=cfg.resolution, fps=cfg.fps, sample_rate=cfg.sample_rate,
                seed=cfg.seed, n_identities=cfg.n_identities, clips_per_identity=cfg.clips_per_identity, splits=splits)


def build_dataset(out, profile_name: str | None = None, workers: int | None = None, progress: bool = True,
                  **overrides) -> dict:
    """Write (or finish writing) the dataset of a profile into ``out``; returns the manifest."""
    cfg = data_config(profile_name, **overrides)
    out = pathlib.Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise StyletalkerError(f"cannot write to {out} ({e.strerror}): choose a writable folder with --out") from None
    man = manifest(cfg, profile_name)
    mpath = out / "manifest.json"
    if mpath.exists():
        old = fmt.read_manifest(out)
        differ = [k for k in man if old.get(k) != man[k]]
        if "world_revision" in differ:                            # manifests before revision 2 lack the key
            raise StyletalkerError(f"{out} holds a dataset of world revision {old.get('world_revision', 1)}, and this "
                                   f"version draws revision {WORLD_REVISION}: use another --out or delete the folder")
        if differ:
            raise StyletalkerError(f"{out} holds a different dataset (its manifest differs: {', '.join(differ)}): "
                                   f"use another --out or delete the folder")
    fmt.atomic_write_json(mpath, man)
    workers = workers or min(os.cpu_count() or 1, 8)
    jobs = [(str(out), i, cfg) for i in range(cfg.n_identities)]
    from tqdm.auto import tqdm
    bar = tqdm(total=len(jobs), desc="identities", disable=not progress)
    if workers == 1:
        for j in jobs:
            _build_identity(j)
            bar.update()
    else:
        import multiprocessing as mp
        with cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            for _ in pool.map(_build_identity, jobs):
                bar.update()
    bar.close()
    return man
