"""Text to speech with phoneme and word timings: the speech of the synthetic world.

Not a StyleTalker component: the paper trains on VoxCeleb2, which we cannot download. Our world
speaks with espeak-ng (the library inside the ``espeakng-loader`` wheel), called through ctypes with
its synchronous callback, which hands back int16 audio at 22050 Hz and phoneme/word events. The
phoneme times drive the visemes of the face renderer; they line up with the audio to about 25 ms.

Phonemes are espeak's ASCII names with the stress marks removed (``'oU`` -> ``oU``). Every pause
(espeak's ``_:``, ``_`` ...) and the leading silence become one phoneme named ``_`` (:data:`PAUSE`),
and consecutive pauses are merged, so the phonemes tile [0, duration] without gaps or overlaps.

Determinism: espeak-ng keeps synthesis state in C statics (pitch flutter phase, echo buffer) that
no API call resets, so two identical calls in one process differ by a few samples. We therefore
load a private copy of the library afresh for every call and unload it afterwards (``dlclose``),
which costs about 7 ms, and seed espeak's own noise generator (``espeak_ng_SetRandSeed``), which
is otherwise seeded differently in every process. The same inputs then give the same audio in
any process (checked with fork and spawn workers).
"""
from __future__ import annotations

import _ctypes
import ctypes
import dataclasses
import hashlib
import os
import pathlib
import re
import string
import tempfile
import threading

import numpy as np

from .audio import int16_to_float, resample
from .errors import StyletalkerError
from .paths import cache_dir

# name -> sex of the voice. Each is espeak-ng's English ("en-us" American, "en" British) with a
# variant that sets formants and pitch. Each was checked to speak, to differ from the others,
# and to have a median F0 near 95-107 Hz (male) or 180-216 Hz (female).
VOICES: dict[str, str] = {
    "en-us+m1": "male", "en-us+m2": "male", "en-us+m3": "male", "en-us+m4": "male",
    "en-us+m5": "male", "en+m1": "male", "en+m3": "male", "en+m4": "male",
    "en-us+f1": "female", "en-us+f2": "female", "en-us+f3": "female", "en-us+f4": "female",
    "en+f1": "female", "en+f2": "female", "en+f3": "female", "en+f4": "female",
}
PAUSE = "_"          # name of every silence phoneme
_PUNCTUATION = string.punctuation.replace("'", "") + "\u201c\u201d\u2018\u2019"
RATE_RANGE = (80, 450)   # words per minute accepted by espeak-ng
PITCH_RANGE = (0, 100)   # espeak-ng's base pitch scale

# espeak-ng constants (speak_lib.h)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x1
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4
_EV_LIST_TERMINATED, _EV_WORD, _EV_PHONEME = 0, 1, 7


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p),
                ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


@dataclasses.dataclass
class Phoneme:
    name: str     # espeak ASCII phoneme without stress marks; PAUSE ("_") for silence
    start: float  # seconds
    end: float    # seconds (the next phoneme's start)

    @property
    def is_pause(self) -> bool:
        return self.name == PAUSE


@dataclasses.dataclass
class Word:
    text: str     # the word as written in the input text
    start: float  # seconds: start of its first phoneme
    end: float    # seconds: end of its last phoneme


@dataclasses.dataclass(eq=False)
class Speech:
    audio: np.ndarray       # float32 [N] in [-1, 1] at sample_rate
    sample_rate: int        # Hz
    phonemes: list[Phoneme]  # tile [0, duration], pauses included
    words: list[Word]        # in spoken order
    text: str
    voice: str
    rate: int               # words per minute
    pitch: int              # 0..100

    @property
    def duration(self) -> float:
        """Length of the audio in seconds."""
        return len(self.audio) / self.sample_rate


# --------------------------------------------------------------------------- the library

_LOCK = threading.Lock()
_LIB_COPY: list[str] = []          # path of our private copy of the library, once known
_LOADED: list[ctypes.CDLL] = []    # the library while a synthesis runs


def _reset_after_fork() -> None:
    # A child forked while another thread was synthesising inherits a held lock and a loaded,
    # half-used library: give it a fresh lock and unload the library so its next call starts clean.
    global _LOCK
    _LOCK = threading.Lock()
    while _LOADED:
        _unload(_LOADED.pop())


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _paths() -> tuple[str, bytes]:
    """(path of our private copy of the espeak-ng library, its data folder).

    The copy lives in the cache folder under a name holding its content hash, so nothing else in
    the process loads the same file and ``dlclose`` really unloads it.
    """
    try:
        import espeakng_loader
    except ImportError:
        raise StyletalkerError("espeak-ng is missing: pip install espeakng-loader") from None
    if not _LIB_COPY:
        src = pathlib.Path(espeakng_loader.get_library_path())
        blob = src.read_bytes()
        folder = cache_dir() / "espeak"
        folder.mkdir(parents=True, exist_ok=True)
        dst = folder / f"libespeak-ng-{hashlib.sha1(blob).hexdigest()[:16]}{src.suffix}"
        if not dst.is_file() or dst.read_bytes() != blob:
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.replace(tmp, dst)  # atomic: concurrent workers never load a partial file
        _LIB_COPY.append(str(dst))
    return _LIB_COPY[0], os.fsencode(espeakng_loader.get_data_path())


def _unload(lib: ctypes.CDLL) -> None:
    close = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary", None)
    if close is not None:
        close(lib._handle)


def _run_espeak(text: str, voice: str, rate: int, pitch: int
                ) -> tuple[np.ndarray, int, list[tuple[int, int, int, int, str]]]:
    """One synthesis with a freshly loaded library.

    Returns (int16 audio [N], sample rate, events), each event (type, sample, text_position,
    length, phoneme name).
    """
    lib_path, data_path = _paths()
    chunks: list[np.ndarray] = []
    events: list[tuple[int, int, int, int, str]] = []

    def on_audio(wav, n, ev):
        if n > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while ev[i].type != _EV_LIST_TERMINATED:
            e = ev[i]
            name = e.id.string.decode("ascii", "replace") if e.type == _EV_PHONEME else ""
            events.append((e.type, e.sample, e.text_position, e.length, name))
            i += 1
        return 0  # 0 = go on

    callback = _CALLBACK(on_audio)  # kept alive until the library is unloaded
    lib = ctypes.CDLL(lib_path)
    _LOADED.append(lib)
    sr = 0
    try:
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                          ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                                     ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                     ctypes.c_void_p, ctypes.c_void_p]
        sr = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, _INIT_PHONEME_EVENTS)
        if sr <= 0:
            raise StyletalkerError("espeak-ng failed to start: reinstall espeakng-loader")
        lib.espeak_SetSynthCallback(callback)
        lib.espeak_ng_SetRandSeed(ctypes.c_long(0))  # noise and jitter use its own generator
        if lib.espeak_SetVoiceByName(voice.encode("ascii")) != 0:
            raise StyletalkerError(f"espeak-ng has no voice {voice!r}: choose one of "
                                   f"{', '.join(VOICES)}")
        lib.espeak_SetParameter(_PARAM_RATE, rate, 0)
        lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
        data = text.encode("utf-8")
        err = lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        lib.espeak_Synchronize()
        if err != 0:
            raise StyletalkerError(f"espeak-ng could not speak the text (error {err}): "
                                   "use plain text")
    finally:
        if sr > 0:
            lib.espeak_Terminate()  # frees espeak's buffers before the library goes
        _LOADED.remove(lib)
        _unload(lib)
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    return audio, sr, events


# --------------------------------------------------------------------------- timings

def _phonemes(events, sr: int, duration: float) -> list[Phoneme]:
    """Phoneme events -> phonemes tiling [0, duration]; pauses renamed PAUSE and merged."""
    raw = [(0.0, PAUSE)] + [(min(s / sr, duration), name)
                            for t, s, _, _, name in events if t == _EV_PHONEME]
    out: list[Phoneme] = []
    for start, name in raw:
        name = PAUSE if name.startswith("_") else name.replace("'", "").replace(",", "")
        if out and start <= out[-1].start:
            out.pop()  # the previous phoneme had zero length
        if out and out[-1].is_pause and name == PAUSE:
            continue  # merge consecutive pauses
        if out:
            out[-1].end = start
        out.append(Phoneme(name, start, duration))
    if len(out) > 1 and out[-1].start >= duration:
        out.pop()
        out[-1].end = duration
    return out


def _words(events, text: str, sr: int, phonemes: list[Phoneme]) -> list[Word]:
    """One Word per whitespace-separated token of ``text`` (punctuation stripped), timed by the
    non-pause phonemes that follow its word event.

    espeak-ng sometimes speaks a function word together with the one before it ("in the") and
    then sends one word event for both; such a group's phonemes are shared out in order, in
    proportion to the words' letter counts (an approximation, right for the common cases).
    """
    duration = phonemes[-1].end
    end_of = {p.start: p.end for p in phonemes}
    tokens = [(m.start(), m.end(), m.group().strip(_PUNCTUATION))
              for m in re.finditer(r"\S+", text)]
    tokens = [t for t in tokens if t[2]]
    # phoneme start times after each word event, keyed by the token holding the event
    groups: dict[int, list[float]] = {}
    event_time: dict[int, float] = {}
    current = None
    for t, s, pos, _, name in events:
        s = min(s / sr, duration)
        if t == _EV_WORD:
            hits = [i for i, (a, b, _) in enumerate(tokens) if a <= pos - 1 < b]
            current = hits[0] if hits else None
            if current is not None:
                groups.setdefault(current, [])
                event_time.setdefault(current, s)
        elif t == _EV_PHONEME and current is not None and not name.startswith("_"):
            groups[current].append(s)
    words: list[Word] = []
    owners = sorted(groups)
    for k, first in enumerate(owners):
        last = owners[k + 1] if k + 1 < len(owners) else len(tokens)
        # this token and the following ones without an event (and any before the first event)
        covered = range(0 if k == 0 else first, last)
        starts = groups[first]
        letters = np.array([len(tokens[i][2]) for i in covered], dtype=float)
        cuts = np.round(np.cumsum(letters) / letters.sum() * len(starts)).astype(int)
        lo = 0
        for i, hi in zip(covered, cuts):
            mine = starts[lo:max(hi, lo + 1)] if lo < len(starts) else []
            lo = max(hi, lo + len(mine))
            if mine:
                words.append(Word(tokens[i][2], mine[0], end_of.get(mine[-1], mine[-1])))
            else:
                t0 = words[-1].end if words else event_time[first]
                words.append(Word(tokens[i][2], t0, t0))
    return words


def synthesize(text: str, voice: str = "en-us+m3", rate: int = 160, pitch: int = 50,
               sample_rate: int = 16000) -> Speech:
    """Speak ``text`` with an espeak-ng voice: float32 audio [N] at ``sample_rate`` plus timings.

    ``rate`` is in words per minute (80..450), ``pitch`` is espeak's base pitch (0..100). Same
    inputs give identical audio. Thread-safe (one synthesis at a time per process).
    """
    if not isinstance(text, str) or not text.strip():
        raise StyletalkerError("text to speak is empty: pass a sentence with words in it")
    if voice not in VOICES:
        raise StyletalkerError(f"unknown voice {voice!r}: choose one of {', '.join(VOICES)}")
    if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
        raise StyletalkerError(f"rate {rate} is outside {RATE_RANGE[0]}..{RATE_RANGE[1]} "
                               "words per minute: pick a rate in that range")
    if not PITCH_RANGE[0] <= pitch <= PITCH_RANGE[1]:
        raise StyletalkerError(f"pitch {pitch} is outside {PITCH_RANGE[0]}..{PITCH_RANGE[1]}: "
                               "pick a pitch in that range")
    if sample_rate <= 0:
        raise StyletalkerError(f"sample_rate {sample_rate} must be positive: use e.g. 16000")
    with _LOCK:
        pcm, sr, events = _run_espeak(text, voice, int(rate), int(pitch))
    if pcm.size == 0:
        raise StyletalkerError(f"espeak-ng produced no sound for {text!r}: pass words it can say")
    audio = resample(int16_to_float(pcm), sr, sample_rate)
    phonemes = _phonemes(events, sr, len(audio) / sample_rate)
    return Speech(audio=audio, sample_rate=sample_rate, phonemes=phonemes,
                  words=_words(events, text, sr, phonemes),
                  text=text, voice=voice, rate=int(rate), pitch=int(pitch))
