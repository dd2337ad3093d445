"""Dataset building: the documented format, splits by identity, determinism and resumption."""
import json

import numpy as np
import pytest

from styletalker.data import format as fmt
from styletalker.data.build import build_dataset, identity_spec
from styletalker.config import data_config
from styletalker.errors import StyletalkerError
from styletalker.videoio import read_video, read_video_audio
from styletalker.world import WORLD_REVISION

from conftest import SMALL


def test_manifest_and_splits(small_dataset):
    man = fmt.read_manifest(small_dataset)
    assert man["fps"] == 25 and man["sample_rate"] == 16000 and man["resolution"] == 32
    assert man["format_version"] == fmt.FORMAT_VERSION and man["profile"] == "quick"
    ids = [set(man["splits"][s]) for s in fmt.SPLITS]
    assert all(ids) and not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    for split in fmt.SPLITS:
        clips = fmt.list_clips(small_dataset, split)
        assert {c.parent.name for c in clips} == set(man["splits"][split])


def test_clip_files_agree(small_dataset):
    base = fmt.list_clips(small_dataset, "train")[0]
    meta = json.loads(base.with_suffix(".json").read_text())
    labels = np.load(base.with_suffix(".npz"))
    frames, fps = read_video(base.with_suffix(".mp4"))
    audio = read_video_audio(base.with_suffix(".mp4"))
    t = meta["n_frames"]
    assert fps == 25 and len(frames) == t and frames.shape[1:] == (32, 32, 3)
    assert abs(len(audio) - t * 16000 / 25) <= 16000 / 25               # within one frame of audio
    for name, (shape, _) in fmt.LABEL_SHAPES.items():
        assert labels[name].shape == (t, *shape) and labels[name].dtype == np.float32
    assert meta["text"] and meta["voice"] and meta["style"] in ("nodding", "turning", "still")
    starts = [p[1] for p in meta["phonemes"]]
    assert starts == sorted(starts) and max(p[2] for p in meta["phonemes"]) <= t / 25 + 0.05
    assert len(meta["identity_factors"]) >= 12


def test_deterministic_and_resumable(small_dataset, tmp_path):
    # The same seed gives the same identities, texts and labels; a second build writes nothing.
    cfg = data_config("quick", **SMALL)
    assert identity_spec(2, cfg)["texts"] == identity_spec(2, cfg)["texts"]
    other = tmp_path / "again"
    build_dataset(other, "quick", workers=1, progress=False, **SMALL)
    a = fmt.list_clips(small_dataset, "test")[0]
    b = other / a.relative_to(small_dataset)
    la, lb = np.load(a.with_suffix(".npz")), np.load(b.with_suffix(".npz"))
    assert all(np.array_equal(la[k], lb[k]) for k in la.files)
    mtimes = {p: p.stat().st_mtime_ns for p in other.rglob("*.json")}
    b.with_suffix(".json").unlink()                                 # an interrupted clip: json missing
    assert b not in fmt.list_clips(other, "test")
    build_dataset(other, "quick", workers=1, progress=False, **SMALL)
    assert b.with_suffix(".json").exists()
    for p, m in mtimes.items():
        if p != b.with_suffix(".json") and p.name != "manifest.json":
            assert p.stat().st_mtime_ns == m                        # finished clips were not rewritten


def test_other_world_revision_is_refused(small_dataset, tmp_path):
    # A folder written by another revision of the world is never finished with this one's clips.
    man = fmt.read_manifest(small_dataset)
    assert man["world_revision"] == WORLD_REVISION
    old = tmp_path / "old"
    old.mkdir()
    fmt.atomic_write_json(old / "manifest.json", {k: v for k, v in man.items() if k != "world_revision"})
    with pytest.raises(StyletalkerError, match=f"world revision 1.*draws revision {WORLD_REVISION}.*--out"):
        build_dataset(old, "quick", workers=1, progress=False, **SMALL)
    assert [p.name for p in old.iterdir()] == ["manifest.json"]


def test_the_worlds_cross_reenactment_takes_each_part_from_its_clip(small_dataset):
    # A's person, B's head and eyes, C's mouth: the eyes' landmarks do not depend on the mouth, the mouth's do
    from styletalker.data.frames import render_clip, render_cross
    a, b, c = (fmt.list_clips(small_dataset, s)[0] for s in fmt.SPLITS)      # three identities
    assert len({x.parent.name for x in (a, b, c)}) == 3
    n = min(int(np.load(x.with_suffix(".npz"))["pose"].shape[0]) for x in (a, b, c))
    frames, marks = render_clip(a, 32)
    same, same_marks = render_cross(a, a, a, n, 32)
    assert np.array_equal(same, frames[:n]) and np.allclose(same_marks, marks[:n])       # A alone: A's own clip
    _, abb = render_cross(a, b, b, n, 32)
    x, abc = render_cross(a, b, c, n, 32)
    assert x.shape == (n, 32, 32, 3) and abc.shape == (n, 68, 2)
    assert np.allclose(abc[:, 36:48], abb[:, 36:48], atol=1e-4)          # the eyes: B's, whatever the mouth
    with np.load(b.with_suffix(".npz")) as zb, np.load(c.with_suffix(".npz")) as zc:
        moves = np.abs(zb["mouth"][:n] - zc["mouth"][:n]).max(1) > 0.05
    assert moves.any() and not np.allclose(abc[moves][:, 48:], abb[moves][:, 48:], atol=1e-3)   # the mouth: C's
    with pytest.raises(ValueError, match="frames asked"):
        render_cross(a, b, c, 10_000, 32)


def test_only_clips_with_world_labels_count_as_renderable(small_dataset, tmp_path):
    import shutil

    from styletalker.data.frames import renderable
    clips = fmt.list_clips(small_dataset, "train")
    assert renderable(clips) and not renderable([])
    real = tmp_path / "real" / "c00"                       # a real clip: video and json, no world labels
    real.parent.mkdir()
    shutil.copy(clips[0].with_suffix(".mp4"), real.with_suffix(".mp4"))
    real.with_suffix(".json").write_text(json.dumps({"fps": 25}))
    assert not renderable([real])
