"""Throughput of the synthetic-world renderer (styletalker.world.render.render) in frames per second.

    python benchmarks/render_speed.py [--threads 2] [--runs 3] [--json OUT]

For each resolution (64, 128, 256 px; batch 256, 128, 64) a batch of random identities and random poses /
expressions is rendered once as a warm-up, then ``--runs`` times; the reported number is batch / median time.
Only ``render()`` is timed (float images + landmarks), not the uint8 conversion or video encoding.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch

from styletalker.world import head as H
from styletalker.world.render import render

CONFIGS = ((64, 256), (128, 128), (256, 64))   # (resolution, batch)
TARGET_FPS_64 = 500.0


def random_frames(b: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    """Random per-frame states in the ranges the dataset uses (see world/behaviour.py)."""
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(b, generator=g)   # noqa: E731
    return dict(yaw=u(-28, 28), pitch=u(-16, 16), roll=u(-14, 14), tx=u(-3, 3), ty=u(-3, 3), scale=u(0.92, 1.08),
                eye_r=u(0, 1), eye_l=u(0, 1), brow=u(0, 1), jaw_open=u(0, 0.9), width=u(0.3, 0.9),
                round=u(0, 0.9), closure=u(0, 1))


def bench(resolution: int, batch: int, runs: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    ident = H.sample_identities(batch, g)
    frame = random_frames(batch, g)
    with torch.inference_mode():
        render(ident, frame, resolution)                            # warm-up
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            render(ident, frame, resolution)
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return dict(resolution=resolution, batch=batch, runs=runs, times_s=times, median_s=med, fps=batch / med)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    load_before = os.getloadavg()
    rows = [bench(r, b, a.runs) for r, b in CONFIGS]
    load_after = os.getloadavg()
    cpu = platform.processor() or platform.machine()
    print(f"renderer throughput, torch {torch.__version__}, {a.threads} threads, {cpu}")
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f} on {os.cpu_count()} cores: "
          f"other processes running at the same time slow this down")
    print(f"{'res':>5} {'batch':>6} {'median s':>9} {'frames/s':>9}")
    for row in rows:
        print(f"{row['resolution']:>5} {row['batch']:>6} {row['median_s']:>9.3f} {row['fps']:>9.1f}")
    fps64 = rows[0]["fps"]
    print(f"target >= {TARGET_FPS_64:.0f} fps at 64 px: {'PASS' if fps64 >= TARGET_FPS_64 else 'FAIL'} ({fps64:.0f})")
    out = dict(threads=a.threads, cpu_count=os.cpu_count(), loadavg_before=load_before, loadavg_after=load_after,
               torch=torch.__version__, rows=rows, target_fps_64=TARGET_FPS_64, pass_64=fps64 >= TARGET_FPS_64)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
