"""The Python API, mirroring the command line: ``st.generate(...)`` is ``styletalker generate``, ``st.demo()`` is
``styletalker demo``.

    frames = st.generate("face.png", text="Hello there.", out="hello.mp4")      # audio-driven: motion sampled
    frames = st.generate("face.png", audio="speech.wav", motion_video="me.mp4")  # motion-controllable

Both inference modes of StyleTalker (paper section 3.4) go through :func:`styletalker.talker.generate.generate`; this
module adds what a user-facing entry needs: reading files, text to speech, input checks that fail before any model
work (one :class:`~styletalker.errors.StyletalkerError` with a one-line message), the shipped models (loaded once per
process and reused), and writing the mp4 with its sound. The command line calls these functions, so the logic lives
once.

Choices where the paper and issue are silent (documented here and in the README):
- Warnings about the input (the image was resized, or dlib found no face and the centred square was used) are
  emitted with :func:`warnings.warn` (category :class:`InputWarning`); the command line prints them on stderr.
- ``audio`` given as an array is taken at ``sample_rate`` Hz and resampled to 16 kHz; a file may be any rate, any
  channel count and any format that soundfile or ffmpeg reads (it is averaged to mono).
- The output must be an ``.mp4`` in an existing, writable folder; it is written atomically (never half a file).
"""
from __future__ import annotations

import functools
import pathlib
import time
import warnings

import numpy as np

from .errors import StyletalkerError
from .paths import PACKAGE_DIR

SAMPLE_RATE = 16000                                  # Hz: the audio front end and the mp4's audio track
DEFAULT_VOICE = "en-us+f3"                           # espeak-ng voice for ``text`` (see ``styletalker voices``)
SHIPPED_PORTRAIT = PACKAGE_DIR / "assets" / "portrait.png"
DEMO_TEXT = "Hello! I am a synthetic face, and I speak with real text to speech."


class InputWarning(UserWarning):
    """The input was usable but was changed on the way in (resized, cropped, or a fallback crop was used)."""


def check_output(out) -> pathlib.Path:
    """Refuse an output that can't be written (wrong suffix, missing or read-only folder) before any work."""
    from .cli import _out_folder
    out = pathlib.Path(out)
    if out.suffix.lower() != ".mp4":
        raise StyletalkerError(f"output {out}: the video is written as mp4; name the file *.mp4")
    _out_folder(out)
    return out


def speech(audio=None, text: str | None = None, voice: str = DEFAULT_VOICE,
           sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Exactly one of ``audio`` (a file path, or mono float samples at ``sample_rate`` Hz) and ``text`` (spoken by
    espeak-ng with ``voice``) -> checked mono float32 [N] at 16 kHz."""
    from .audio import load_audio, resample
    from .talker.generate import check_audio
    if (audio is None) == (text is None):
        raise StyletalkerError("give exactly one of audio (a file or samples) and text (a sentence to speak)")
    if text is not None:
        from . import tts
        return check_audio(tts.synthesize(text, voice=voice, sample_rate=SAMPLE_RATE).audio)
    if isinstance(audio, (str, pathlib.Path)):
        return check_audio(load_audio(audio, SAMPLE_RATE))
    return check_audio(resample(check_audio(audio), sample_rate, SAMPLE_RATE))


@functools.lru_cache(maxsize=2)
def _load(talker, encoder, generator):
    from .gan.weights import load_renderer
    from .inversion.invert import check_pair, load_render_encoder
    from .talker.generate import load_talker
    G, E = load_renderer(generator), load_render_encoder(encoder)
    check_pair(E, G)
    return load_talker(talker).eval(), E, G


def load_models(talker=None, encoder=None, generator=None):
    """(talker, encoder, generator), the shipped ones by default (generation's pair: ``st.gan.weights.load_renderer``
    and ``st.inversion.invert.load_render_encoder``)
    or NAME(.safetensors) paths; cached, so a notebook's repeated calls (widgets) load them once. An encoder's codes
    fit only the generator it was trained with, so ``encoder`` and ``generator`` come together or not at all."""
    if (encoder is None) != (generator is None):
        raise StyletalkerError("give the encoder and the generator together (an encoder's codes fit only the generator "
                               "it was trained with), e.g. --generator styletalker/weights/generator_default --encoder "
                               "styletalker/weights/encoder_default for the full G_I")
    return _load(*(None if p is None else str(pathlib.Path(p).resolve()) for p in (talker, encoder, generator)))


def _read_image(image):
    from .face import to_uint8_rgb
    from .inversion.invert import load_image
    if isinstance(image, (str, pathlib.Path)):
        return load_image(image)
    try:
        return to_uint8_rgb(image)
    except Exception as e:                                     # a PIL image, a wrong-shaped array, ...
        raise StyletalkerError(f"image must be a file path or an RGB/greyscale array ({e})") from None


def generate(image, audio=None, text: str | None = None, voice: str = DEFAULT_VOICE, motion_video=None,
             seed: int = 0, temperature: float | None = None, still: bool = False, out=None, *,
             sample_rate: int = SAMPLE_RATE, talker=None, encoder=None, generator=None, chunk: int = 250,
             progress: bool = True, return_frames: bool = True, precision: str = "auto",
             lip_gain: float | None = None) -> np.ndarray | None:
    """A talking-head video of ``image`` saying ``audio`` or ``text``: uint8 frames [T, R, R, 3] at 25 fps.

    image:        path of any image PIL reads (RGBA and greyscale included; any size, the face is found by dlib, or
                  the centred square is used with a warning), or a uint8 array [H, W, 3] / [H, W].
    audio, text:  exactly one: an audio file / float samples [N] at ``sample_rate``, or a sentence for espeak-ng
                  spoken with ``voice``. T = ceil(seconds * 25).
    motion_video: None (audio-driven: head motion and blinks sampled from the prior with ``seed`` and
                  ``temperature`` > 0, by default the talker's calibrated one,
                  ``st.load_models()[0].default_temperature``; ``still`` keeps the head still, lips only), or a
                  video path / uint8 crops
                  [T', R, R, 3] whose motion is transferred (motion-controllable; ping-pong looped when short;
                  ``seed`` and ``temperature`` are then unused, ``still`` is refused).
    lip_gain:     how wide the lips move, in [0, 4]: the audio path's W+ offset times this (default: the talker's
                  calibrated one, ``st.load_models()[0].default_lip_gain``; 1 = as trained, 0 = the reference's
                  mouth kept).
    out:          optional ``*.mp4`` path: the frames are also written there, with the audio.
    talker, encoder, generator: NAME(.safetensors) of other models (default: the shipped ones; the generator and
                  encoder are generation's pair, the distilled G_I fine-tuned with its encoder, paths.talking_pair).
    chunk:        frames per chunk (the prior's state is carried across; any chunk gives the same video).
    return_frames: False (with ``out``) streams the chunks into the mp4 as they are made and returns None, so memory
                  does not grow with the audio's length (what the command line does).
    precision:    "auto" (default), "fp32" or "bf16": bf16 renders under bfloat16 autocast, up to 2.7x faster on
                  CPUs with bf16 units (AVX512-BF16, AMX), slower on others; the frames differ from fp32 by about
                  48 dB PSNR. "auto" takes bf16 on a CPU that has those units and runs a test convolution faster in
                  bf16, and fp32 elsewhere (st.gan.resolve_precision).

    Every input problem raises :class:`StyletalkerError` before any model runs and before anything is written.
    """
    from .talker.generate import FPS, check_lip_gain, check_temperature, generate_chunks
    check_temperature(temperature)
    check_lip_gain(lip_gain)
    if chunk < 1:
        raise StyletalkerError(f"chunk {chunk} must be at least 1 frame")
    from .gan.generator import check_precision
    check_precision(precision)
    if still and motion_video is not None:
        raise StyletalkerError("still (no head motion) and a motion video exclude each other: drop one")
    out = check_output(out) if out is not None else None
    img = _read_image(image)
    if isinstance(motion_video, (str, pathlib.Path)) and not pathlib.Path(motion_video).is_file():
        raise StyletalkerError(f"motion video {motion_video} does not exist: check the path")
    wav = speech(audio, text, voice, sample_rate)
    net, E, G = load_models(talker, encoder, generator)
    if not return_frames and out is None:
        raise StyletalkerError("return_frames=False needs out=...mp4: the frames must go somewhere")
    chunks, notes = generate_chunks(img, wav, motion_video, net, G, E, temperature=temperature, seed=seed,
                                    still=still, chunk=chunk, sample_rate=SAMPLE_RATE, progress=progress,
                                    precision=precision, lip_gain=lip_gain)
    for note in notes:
        warnings.warn(note, InputWarning, stacklevel=2)
    from .videoio import write_video
    if not return_frames:
        write_video(out, chunks, fps=FPS, audio=wav, sample_rate=SAMPLE_RATE)
        return None
    frames = np.concatenate(list(chunks))
    if out is not None:
        write_video(out, frames, fps=FPS, audio=wav, sample_rate=SAMPLE_RATE)
    return frames


def contact_sheet(frames: np.ndarray, path=None, n: int = 12, rows: int = 2, fps: float = 25,
                  title: str | None = None, reference: np.ndarray | None = None):
    """A frame grid of ``n`` evenly spaced frames of uint8 [T, H, W, 3], titled by time, after the ``reference``
    image (uint8 [H', W', 3], resized to H x W) when given; saved as PNG at ``path`` (atomically) when given.
    Returns the matplotlib figure."""
    import matplotlib
    import matplotlib.pyplot as plt

    from .viz import grid
    idx = np.linspace(0, len(frames) - 1, min(n, len(frames))).round().astype(int)
    if path is not None and matplotlib.get_backend().lower() != "agg" and not _interactive():
        plt.switch_backend("Agg")                               # a script or the CLI: no window
    tiles, titles = list(frames[idx]), [f"{i / fps:.2f} s" for i in idx]
    if reference is not None:
        from PIL import Image
        h, w = frames.shape[1:3]
        tiles, titles = [np.asarray(Image.fromarray(reference).resize((w, h), Image.LANCZOS))] + tiles, \
            ["reference"] + titles
    fig = grid(np.stack(tiles), rows=rows, titles=titles, size=1.4, suptitle=title)
    if path is not None:
        import os
        import tempfile
        path = pathlib.Path(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.stem, suffix=".tmp.png")
        os.close(fd)
        try:
            fig.savefig(tmp, dpi=100, format="png")
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    return fig


def _interactive() -> bool:
    try:
        from IPython import get_ipython
        return get_ipython() is not None
    except ImportError:
        return False


def demo(out="out/demo.mp4", grid="out/demo_grid.png", image=SHIPPED_PORTRAIT, text: str = DEMO_TEXT,
         voice: str = DEFAULT_VOICE, seed: int = 0, progress: bool = True) -> dict:
    """What ``styletalker demo`` (and ``make demo``) runs: the shipped portrait says ``text`` (espeak-ng), head
    motion sampled by the shipped prior; writes the mp4 with sound to ``out`` and a contact sheet (the reference,
    then 11 evenly spaced frames) to ``grid``.

    The shipped portrait (``styletalker/assets/portrait.png``, a copy of ``data/samples/portrait_1.png``) is a
    frontal face of a synthetic-world identity: the shipped 64 px G_I and Enc_I were trained on that world only, so
    a real photo (skimage's astronaut, matplotlib's grace_hopper) is out of domain. Of the four sample portraits it
    has the highest inversion PSNR (21.7 dB against 18.3-19.6 dB).

    The output folders are created. Returns {"out", "grid", "frames", "seconds"} (wall time, model loading
    included)."""
    t0 = time.time()
    out, grid = pathlib.Path(out), pathlib.Path(grid)
    if grid.suffix.lower() != ".png":
        raise StyletalkerError(f"contact sheet {grid}: it is written as PNG; name the file *.png")
    for p in (out, grid):
        p.parent.mkdir(parents=True, exist_ok=True)
    frames = generate(image, text=text, voice=voice, seed=seed, out=out, progress=progress)
    import matplotlib.pyplot as plt
    fig = contact_sheet(frames, grid, n=11, title=f"styletalker demo: seed {seed}, voice {voice}",
                        reference=_read_image(image))
    plt.close(fig)
    return dict(out=out, grid=grid, frames=len(frames), seconds=time.time() - t0)
