"""videoio: mp4 round trips of frames and audio, atomic writes, clear errors."""
import os

import numpy as np
import pytest

from styletalker.errors import StyletalkerError
from styletalker.videoio import iter_frames, read_video, read_video_audio, video_info, write_video

FPS, SR = 25, 16000


def _clip(n_frames=50, size=64):
    """A moving colour gradient with a face-sized blob, uint8 [T, size, size, 3]."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    frames = []
    for t in range(n_frames):
        blob = 255 * np.exp(-((xx - size / 2 - 5 * np.sin(t / 5)) ** 2 + (yy - size / 2) ** 2) / (2 * (size / 6) ** 2))
        frames.append(np.stack([blob, (xx * 3 + 2 * t) % 256, np.full_like(xx, 96)], -1))
    return np.stack(frames).astype(np.uint8)


def _speechlike(n):
    """A chirp under an amplitude envelope, float32 [n]."""
    t = np.arange(n) / SR
    return (0.4 * np.sin(2 * np.pi * (200 + 300 * t) * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def test_round_trip_frames_and_audio(tmp_path):
    frames = _clip()
    audio = _speechlike(len(frames) * SR // FPS)
    path = write_video(tmp_path / "a.mp4", frames, fps=FPS, audio=audio, sample_rate=SR)
    got, fps = read_video(path)
    assert got.shape == frames.shape and got.dtype == np.uint8
    assert fps == pytest.approx(FPS)
    assert np.abs(got.astype(np.float32) - frames).mean() < 4.0  # crf 18 yuv420p: a few grey levels
    assert sum(1 for _ in iter_frames(path)) == len(frames)

    got_audio = read_video_audio(path, SR)
    assert got_audio.dtype == np.float32
    assert abs(len(got_audio) - len(audio)) <= SR // FPS  # within one video frame of audio
    n = min(len(got_audio), len(audio))
    assert np.corrcoef(got_audio[:n], audio[:n])[0, 1] > 0.9  # AAC priming is trimmed: no offset

    info = video_info(path)
    assert info["has_audio"] and info["size"] == (64, 64) and abs(info["n_frames"] - len(frames)) <= 1


def test_silent_video_has_no_audio(tmp_path):
    path = write_video(tmp_path / "s.mp4", _clip(10, 32))
    assert read_video_audio(path) is None
    assert video_info(path)["has_audio"] is False
    assert read_video(path)[0].shape == (10, 32, 32, 3)


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    import styletalker.videoio as videoio
    monkeypatch.setattr(videoio, "ffmpeg_exe", lambda: "false")  # an "ffmpeg" that always fails
    with pytest.raises(StyletalkerError, match="ffmpeg failed"):
        write_video(tmp_path / "x.mp4", _clip(5, 32), audio=np.zeros(SR // 5, np.float32))
    assert os.listdir(tmp_path) == []  # neither the target nor a temporary file


def test_existing_file_survives_failed_overwrite(tmp_path, monkeypatch):
    path = write_video(tmp_path / "x.mp4", _clip(5, 32))
    before = path.read_bytes()
    import styletalker.videoio as videoio
    monkeypatch.setattr(videoio, "ffmpeg_exe", lambda: "false")
    with pytest.raises(StyletalkerError):
        write_video(path, _clip(5, 32))
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["x.mp4"]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write to read-only folders")
def test_unwritable_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(StyletalkerError, match="not writable"):
            write_video(folder / "a.mp4", _clip(5, 32))
    finally:
        folder.chmod(0o755)


def test_unwritable_folder_checked_before_encoding(tmp_path, monkeypatch):
    # the same check as above, but also runs as root (for whom every folder is writable): fake the permission
    import styletalker.videoio as videoio
    monkeypatch.setattr(videoio.os, "access", lambda *args, **kwargs: False)
    monkeypatch.setattr(videoio, "ffmpeg_exe", lambda: pytest.fail("encoding started"))
    with pytest.raises(StyletalkerError, match="not writable"):
        write_video(tmp_path / "a.mp4", _clip(5, 32))


def test_missing_folder(tmp_path):
    with pytest.raises(StyletalkerError, match="does not exist"):
        write_video(tmp_path / "nope" / "a.mp4", _clip(5, 32))


def test_missing_and_corrupt_inputs(tmp_path):
    with pytest.raises(StyletalkerError, match="not found"):
        read_video(tmp_path / "missing.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    for fn in (read_video, video_info, read_video_audio):
        with pytest.raises(StyletalkerError, match="corrupt"):
            fn(bad)
