"""The training-window Dataset over the decoded cache, including two processes building the cache at once."""
import multiprocessing as mp

import numpy as np
import torch

from styletalker.data import format as fmt
from styletalker.data.dataset import ClipWindows, build_cache
from styletalker.videoio import read_video


def test_windows_match_the_clips(small_dataset):
    ds = ClipWindows(small_dataset, "train", window=5)
    assert len(ds) > 0
    item = ds[len(ds) // 2]
    assert item["frames"].shape == (5, 3, 32, 32) and item["mel"].shape == (5, 80, 20)
    assert item["landmarks"].shape == (5, 68, 2) and item["pose"].shape == (5, 6)
    # The cached frames are the decoded mp4 frames and the labels are the npz labels.
    clip = small_dataset / ds.index["clips"][int(item["clip"])]
    frames, _ = read_video(clip.with_suffix(".mp4"))
    s = int(item["start"])
    assert np.array_equal((item["frames"] * 255).round().byte().permute(0, 2, 3, 1).numpy(), frames[s:s + 5])
    assert torch.equal(item["mouth"], torch.from_numpy(np.load(clip.with_suffix(".npz"))["mouth"][s:s + 5]))
    # The mel window is louder while speaking than in the leading silence.
    mels = torch.stack([ds[i]["mel"].mean() for i in range(len(ds))])
    assert mels.max() > mels.min() + 1.0


def _build(args):
    root, split = args
    return str(build_cache(root, split))


def test_concurrent_cache_build(small_dataset, tmp_path):
    import shutil
    root = tmp_path / "copy"
    shutil.copytree(small_dataset, root, ignore=shutil.ignore_patterns(".cache"))
    with mp.get_context("spawn").Pool(2) as pool:
        dirs = pool.map(_build, [(root, "val"), (root, "val")])
    assert dirs[0] == dirs[1]
    ds = ClipWindows(root, "val", window=3)
    n = sum(len(read_video(c.with_suffix(".mp4"))[0]) for c in fmt.list_clips(root, "val"))
    assert ds.frames.shape[0] == n
    assert not list((root / ".cache").glob(".val.tmp*"))            # no half-built cache left behind
