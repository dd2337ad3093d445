"""Video and audio-track input/output through the ffmpeg binary that ships in the ``imageio-ffmpeg`` wheel.

Every clip of the dataset (synthetic or real, see :mod:`styletalker.data.format`) is an H.264 mp4 (yuv420p) with an
AAC audio track at 16 kHz. Writing pipes raw RGB frames to ffmpeg on stdin; reading iterates imageio's ffmpeg reader
frame by frame so that long clips never sit in memory twice.
"""
from __future__ import annotations

import os
import pathlib
import subprocess
import tempfile
from typing import Iterator

import numpy as np

from .errors import StyletalkerError


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg."""
    import imageio_ffmpeg
    return imageio_ffmpeg.get_ffmpeg_exe()


def _stderr_tail(stderr: bytes, n_chars: int = 600) -> str:
    text = stderr.decode(errors="replace").strip()
    return text[-n_chars:].replace("\n", " | ")


def _check_writable(folder: pathlib.Path) -> None:
    if not folder.is_dir():
        raise StyletalkerError(f"cannot write video: folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StyletalkerError(f"cannot write video: folder {folder} is not writable; choose another output folder "
                               f"or fix its permissions")


def write_video(path, frames, fps: float = 25, audio: np.ndarray | None = None,
                sample_rate: int = 16000, crf: int = 18) -> pathlib.Path:
    """Encode ``frames`` (and optionally ``audio``) to an H.264/AAC mp4, atomically.

    frames: uint8 [T, H, W, 3] RGB with even H and W (yuv420p halves the chroma resolution), or an iterable of such
            chunks, streamed to ffmpeg as they come (a long video never has to be in memory at once).
    audio:  float32 [N] in [-1, 1] at ``sample_rate`` Hz, or None for a silent (audio-less) file.
    crf:    x264 quality; 18 is visually near-lossless, which keeps 32-64 px faces recognisable to dlib.
    The file is encoded to a temporary name in the same folder and renamed into place, so a failure (including one
    raised by the chunk iterator) never leaves a partial ``path``. Returns ``path`` as a Path.
    """
    path = pathlib.Path(path)
    chunks = iter([frames]) if isinstance(frames, np.ndarray) else iter(frames)

    def checked(chunk) -> np.ndarray:
        chunk = np.asarray(chunk)
        if chunk.dtype != np.uint8 or chunk.ndim != 4 or chunk.shape[-1] != 3:
            raise ValueError(f"frames must be uint8 [T, H, W, 3], got {chunk.dtype} {chunk.shape}")
        return chunk

    first = next(chunks, None)
    first = checked(first) if first is not None else None
    if first is None or len(first) == 0:
        raise ValueError("frames is empty: a video needs at least one frame")
    _, height, width, _ = first.shape
    assert height % 2 == 0 and width % 2 == 0, f"yuv420p needs even sizes, got {height}x{width}"
    _check_writable(path.parent)

    try:
        fd, tmp_video = tempfile.mkstemp(dir=path.parent, prefix="." + path.stem, suffix=".tmp.mp4")
    except OSError as e:  # e.g. a read-only file system, which os.access does not see for root
        raise StyletalkerError(f"cannot write video into {path.parent} ({e.strerror}); choose another output "
                               f"folder") from None
    os.close(fd)
    tmp_audio, proc = None, None
    try:
        cmd = [ffmpeg_exe(), "-y", "-loglevel", "error",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps}", "-i", "pipe:0"]
        if audio is not None:
            audio = np.asarray(audio)
            assert audio.ndim == 1, f"audio must be mono [N], got {audio.shape}"
            # raw little-endian float32 needs no header and no int16 rounding; ffmpeg is told its layout
            fd, tmp_audio = tempfile.mkstemp(dir=path.parent, prefix="." + path.stem, suffix=".tmp.f32")
            with os.fdopen(fd, "wb") as f:                 # in pieces: no full-length copies of a long audio
                for i in range(0, len(audio), 1 << 20):
                    f.write(np.clip(audio[i:i + (1 << 20)], -1.0, 1.0).astype("<f4").tobytes())
            cmd += ["-f", "f32le", "-ar", str(sample_rate), "-ac", "1", "-i", tmp_audio]
        cmd += ["-map", "0:v:0", "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p",
                # mp4 players expect the moov atom first; costs nothing for small files
                "-movflags", "+faststart"]
        if audio is not None:
            cmd += ["-map", "1:a:0", "-c:a", "aac", "-b:a", "64k", "-ar", str(sample_rate), "-ac", "1"]
        cmd += ["-f", "mp4", tmp_video]
        with tempfile.TemporaryFile() as err:       # a file, not a pipe: ffmpeg can never block on a full stderr
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err)
            try:
                proc.stdin.write(np.ascontiguousarray(first).tobytes())
                for chunk in chunks:
                    chunk = checked(chunk)
                    if chunk.shape[1:3] != (height, width):
                        raise ValueError(f"a chunk of {chunk.shape[1:3]} frames in a {height}x{width} video")
                    proc.stdin.write(np.ascontiguousarray(chunk).tobytes())
            except BrokenPipeError:
                pass                                  # ffmpeg died: its exit code and stderr say why, below
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
            if proc.wait() != 0:
                err.seek(0)
                raise StyletalkerError(f"ffmpeg failed to write {path} (exit {proc.returncode}): "
                                       f"{_stderr_tail(err.read())}")
        os.chmod(tmp_video, 0o644)  # mkstemp makes it private; a dataset file should be readable like any other
        os.replace(tmp_video, path)
    finally:
        if proc is not None and proc.poll() is None:   # the chunk iterator raised: stop ffmpeg
            proc.kill()
            proc.wait()
        for tmp in (tmp_video, tmp_audio):
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
    return path


def _check_readable(path: pathlib.Path) -> None:
    if not path.is_file():
        raise StyletalkerError(f"video {path} not found: check the path")


def _open_reader(path):
    import imageio.v2 as imageio
    path = pathlib.Path(path)
    _check_readable(path)
    try:
        return imageio.get_reader(str(path), "ffmpeg")
    except Exception as e:  # imageio raises several types (OSError, RuntimeError, ...) for bad files
        raise StyletalkerError(f"cannot open video {path} ({type(e).__name__}: {str(e).splitlines()[0][:200]}): "
                               f"the file is corrupt or not a video; re-encode or remove it") from None


def _frames_of(reader, path) -> Iterator[np.ndarray]:
    try:
        for frame in reader:
            yield np.asarray(frame, dtype=np.uint8)
    except (RuntimeError, OSError, IndexError, StopIteration) as e:
        raise StyletalkerError(f"error while decoding {path} ({type(e).__name__}: {str(e)[:200]}): the file is "
                               f"corrupt; re-encode or remove it") from None
    finally:
        reader.close()


def iter_frames(path) -> Iterator[np.ndarray]:
    """Yield the frames of a video one at a time as uint8 [H, W, 3] RGB."""
    yield from _frames_of(_open_reader(path), path)


def video_info(path) -> dict:
    """Container facts: {"fps": float, "size": (width, height), "n_frames": int (estimate from duration x fps),
    "duration": float seconds, "has_audio": bool}."""
    reader = _open_reader(path)
    try:
        meta = reader.get_meta_data()
    finally:
        reader.close()
    fps = float(meta.get("fps") or 0.0)
    duration = float(meta.get("duration") or 0.0)
    return {"fps": fps, "size": tuple(meta.get("size", (0, 0))), "duration": duration,
            "n_frames": int(round(duration * fps)), "has_audio": _has_audio(path)}


def read_video(path) -> tuple[np.ndarray, float]:
    """Decode a whole video. Returns (frames uint8 [T, H, W, 3] RGB, fps)."""
    reader = _open_reader(path)
    fps = float(reader.get_meta_data().get("fps") or 0.0)
    frames = list(_frames_of(reader, path))  # a list of decoded arrays, not list(reader): errors stay ours
    if not frames:
        raise StyletalkerError(f"video {path} has no frames: the file is empty or corrupt; re-encode or remove it")
    return np.stack(frames), fps  # [T, H, W, 3]


def _has_audio(path) -> bool:
    # 'ffmpeg -i' without an output lists the streams on stderr (and exits 1, which is expected here)
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True)
    if b"Stream #" not in proc.stderr:
        raise StyletalkerError(f"cannot read {path}: ffmpeg finds no streams ({_stderr_tail(proc.stderr, 200)}); "
                               f"the file is corrupt or not a video; re-encode or remove it")
    return b"Audio:" in proc.stderr


def read_video_audio(path, sample_rate: int = 16000) -> np.ndarray | None:
    """Decode a video's first audio stream to float32 mono [N] in [-1, 1] at ``sample_rate``; None if it has none."""
    path = pathlib.Path(path)
    _check_readable(path)
    if not _has_audio(path):
        return None
    cmd = [ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-map", "0:a:0", "-vn",
           "-f", "s16le", "-acodec", "pcm_s16le", "-ac", "1", "-ar", str(sample_rate), "pipe:1"]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise StyletalkerError(f"ffmpeg failed to decode the audio of {path}: {_stderr_tail(proc.stderr)}; "
                               f"the file may be corrupt")
    return np.frombuffer(proc.stdout, dtype="<i2").astype(np.float32) / 32768.0
