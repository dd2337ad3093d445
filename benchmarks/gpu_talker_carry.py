"""Pack the talker's training split small enough to travel to a lent GPU machine, and unpack it there.

The device tool carries at most 64 MiB with the working tree, and the decoded cache of the default training split
is 460 MB (frames 345 MB, mel windows 90 MB). What travels instead (about 40 MB in out/gpu_carry/talker):

- clips.tar: manifest.json and the training clips' .json and .mp4 files (the mp4 frames are decoded again there with
  OpenCV, which the GPU image has; checked here to give the same uint8 frames as the cache's imageio-ffmpeg decode);
- cache.tar.xz: the cache's index and label arrays, with the landmarks in float16 (at most 0.02 px off at 64 px), and
  the log-mel windows (already float16);
- ck_sync.pt and ck_nosync.pt (``--checkpoints``): training checkpoints stripped to the network and the random state.
  Adam's moments are dropped (a third of the size), so the optimiser restarts there.

    python benchmarks/gpu_talker_carry.py pack --data data/cache/default --out out/gpu_carry/talker \
        --checkpoints out/train/talker_s22_r800 out/train/talker_s22_r800nosync
    python3 benchmarks/gpu_talker_carry.py unpack --carry out/gpu_carry/talker --data data/cache/default   # there

``unpack`` writes the same cache ``styletalker.data.dataset.build_cache`` would, so ``ClipWindows`` finds it fresh.
"""
from __future__ import annotations

import argparse
import io
import json
import lzma
import pathlib
import tarfile
import time

import numpy as np


def pack(data: pathlib.Path, out: pathlib.Path, checkpoints: list[str]) -> None:
    cache = data / ".cache" / "train"
    idx = json.loads((cache / "index.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out / "clips.tar", "w") as tar:
        tar.add(data / "manifest.json", "manifest.json")
        for c in idx["clips"]:
            for suffix in (".json", ".mp4"):
                tar.add(data / (c + suffix), c + suffix)
    with lzma.open(out / "cache.tar.xz", "wb", preset=6) as xz, tarfile.open(fileobj=xz, mode="w") as tar:
        tar.add(cache / "index.json", "index.json")
        for k in idx["labels"]:
            a = np.load(cache / f"{k}.npy")
            if k == "landmarks":
                a = a.astype(np.float16)
            buf = io.BytesIO()
            np.save(buf, a)
            info = tarfile.TarInfo(f"{k}.npy")
            info.size = buf.tell()
            buf.seek(0)
            tar.addfile(info, buf)
        tar.add(cache / "mel.npy", "mel.npy")
    if checkpoints:
        import torch
        for name, folder in zip(("ck_sync.pt", "ck_nosync.pt"), checkpoints):
            ck = torch.load(pathlib.Path(folder) / "talker" / "checkpoint.pt", map_location="cpu", weights_only=True)
            opt = ck["state"]["opt"]
            ck["state"]["opt"] = dict(state={}, param_groups=opt["param_groups"])      # Adam restarts there
            torch.save(ck, out / name)
    for p in sorted(out.iterdir()):
        print(f"{p.name}: {p.stat().st_size / 2 ** 20:.1f} MiB")


def unpack(carry: pathlib.Path, data: pathlib.Path) -> None:
    import cv2
    t0 = time.time()
    final = data / ".cache" / "train"
    if final.exists():
        raise SystemExit(f"{final} exists: unpack into a fresh --data folder")
    data.mkdir(parents=True, exist_ok=True)
    with tarfile.open(carry / "clips.tar") as tar:
        tar.extractall(data, filter="data")
    tmp = data / ".cache" / ".train.unpack"
    tmp.mkdir(parents=True, exist_ok=True)
    with lzma.open(carry / "cache.tar.xz") as xz, tarfile.open(fileobj=xz, mode="r|") as tar:
        tar.extractall(tmp, filter="data")
    idx = json.loads((tmp / "index.json").read_text())
    for k in idx["labels"]:
        a = np.load(tmp / f"{k}.npy")
        if a.dtype != np.float32:
            np.save(tmp / f"{k}.npy", a.astype(np.float32))
    res, total = int(idx["resolution"]), int(sum(idx["lengths"]))
    frames = np.lib.format.open_memmap(tmp / "frames.npy", "w+", np.uint8, (total, res, res, 3))
    offset = 0
    for c, n in zip(idx["clips"], idx["lengths"]):
        cap, t = cv2.VideoCapture(str(data / (c + ".mp4"))), 0
        while t < n:
            ok, f = cap.read()
            if not ok:
                break
            frames[offset + t] = f[:, :, ::-1]                     # OpenCV decodes to BGR
            t += 1
        if t == 0:
            raise SystemExit(f"{c}.mp4: OpenCV decoded no frame (no H.264 decoder in this OpenCV build?)")
        frames[offset + t: offset + n] = frames[offset + t - 1]     # a short decode: repeat the last frame
        offset += n
    frames.flush()
    del frames
    tmp.rename(final)
    print(f"unpacked {len(idx['clips'])} clips, {total} frames into {final} in {time.time() - t0:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["pack", "unpack"])
    ap.add_argument("--data", default="data/cache/default")
    ap.add_argument("--out", default="out/gpu_carry/talker", help="pack: where the carried files go")
    ap.add_argument("--carry", default="out/gpu_carry/talker", help="unpack: the carried files")
    ap.add_argument("--checkpoints", nargs="*", default=[], help="pack: the sync and no-sync run folders")
    a = ap.parse_args()
    if a.what == "pack":
        pack(pathlib.Path(a.data), pathlib.Path(a.out), a.checkpoints)
    else:
        unpack(pathlib.Path(a.carry), pathlib.Path(a.data))


if __name__ == "__main__":
    main()
