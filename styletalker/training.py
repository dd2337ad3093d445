"""The one training loop shared by every stage: steps, named loss terms, a log file, resumable checkpoints.

A stage is any object with
    ``state()``      -> dict name -> object with state_dict()/load_state_dict() (modules, optimisers)
    ``step(i)``      -> dict of named float terms for step i (does its own forward, backward and update)
    ``batch``        images (or items) per step, for the images-per-second report
The loop writes ``OUT/log.jsonl`` (one line per ``log_every`` steps: averaged terms, step, seconds, img/s) and
``OUT/checkpoint.pt`` every ``ckpt_every`` steps and at the end, atomically; a new call with the same OUT resumes
from the last checkpoint (same step, same random state), so an interrupted run loses at most ``ckpt_every`` steps.
"""
from __future__ import annotations

import json
import os
import pathlib
import time

import torch


class GeneratorState:
    """A torch.Generator seen as something with a state dict, so that a stage's own random stream is checkpointed
    and a resumed run draws the same numbers."""

    def __init__(self, gen: torch.Generator):
        self.gen = gen

    def state_dict(self) -> dict:
        return dict(state=self.gen.get_state())

    def load_state_dict(self, d: dict) -> None:
        self.gen.set_state(d["state"])


def _save(path: pathlib.Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(out) -> dict | None:
    """The last training checkpoint in OUT (loaded without executing code), or None."""
    path = pathlib.Path(out) / "checkpoint.pt"
    return torch.load(path, map_location="cpu", weights_only=True) if path.exists() else None


def train(stage, steps: int, out, log_every: int = 50, ckpt_every: int = 500, time_limit_s: float | None = None,
          progress: bool = True, desc: str = "training", on_checkpoint=None) -> dict:
    """Run ``stage.step`` until ``steps`` (or the time limit). Returns {'step', 'seconds', 'images_per_s', 'done'}.

    on_checkpoint(step, seconds): called after each checkpoint (e.g. to export the model so far).
    """
    from tqdm.auto import tqdm
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start, elapsed = 0, 0.0
    ck = load_checkpoint(out)
    if ck is not None:
        for name, obj in stage.state().items():
            obj.load_state_dict(ck["state"][name])
        torch.set_rng_state(ck["rng"])
        start, elapsed = int(ck["step"]), float(ck["seconds"])
        # rows logged after the checkpoint belong to steps that will be run again: drop them
        kept = [r for r in read_log(out) if r["step"] <= start]
        tmp = out / f".log.jsonl.tmp{os.getpid()}"
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        os.replace(tmp, out / "log.jsonl")

    def checkpoint(step: int, seconds: float) -> None:
        _save(out / "checkpoint.pt", dict(step=step, seconds=seconds, rng=torch.get_rng_state(),
                                          state={k: v.state_dict() for k, v in stage.state().items()}))

    t0, sums, counts, step = time.time(), {}, {}, start
    t_log, step_log = time.time(), start
    bar = tqdm(total=steps, initial=start, desc=desc, disable=not progress, mininterval=2)
    with open(out / "log.jsonl", "a") as log:
        while step < steps:
            terms = stage.step(step)
            step += 1
            for k, v in terms.items():                      # a term a step may skip is averaged where taken
                sums[k] = sums.get(k, 0.0) + float(v)
                counts[k] = counts.get(k, 0) + 1
            bar.update(1)
            now = time.time()
            if step % log_every == 0 or step == steps:
                rate = (step - step_log) * stage.batch / max(now - t_log, 1e-9)
                row = dict(step=step, seconds=round(elapsed + now - t0, 2), images_per_s=round(rate, 1),
                           **{k: round(v / counts[k], 5) for k, v in sums.items()})
                log.write(json.dumps(row) + "\n")
                log.flush()
                bar.set_postfix({k: f"{v / counts[k]:.3f}" for k, v in list(sums.items())[:4]})
                sums, counts, t_log, step_log = {}, {}, now, step
            over = time_limit_s is not None and now - t0 > time_limit_s
            if step % ckpt_every == 0 or step == steps or over:
                checkpoint(step, elapsed + now - t0)
                if on_checkpoint is not None:
                    on_checkpoint(step, elapsed + now - t0)
            if over:
                break
    bar.close()
    seconds = elapsed + time.time() - t0
    done = step >= steps
    return dict(step=step, seconds=seconds, images_per_s=(step - start) * stage.batch / max(time.time() - t0, 1e-9),
                done=done)


def read_log(out) -> list[dict]:
    """The rows of OUT/log.jsonl (for plotting loss curves)."""
    path = pathlib.Path(out) / "log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
