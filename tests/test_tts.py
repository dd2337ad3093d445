"""espeak-ng speech: timings that line up with the audio, determinism, voices and errors."""
import multiprocessing

import numpy as np
import pytest

from styletalker import StyletalkerError, tts

TEXT = "Peter bought a blue umbrella, and Fiona waved at the big ship."


@pytest.fixture(scope="module")
def speech():
    return tts.synthesize(TEXT)


def test_speech_fields(speech):
    assert speech.audio.dtype == np.float32 and speech.audio.ndim == 1
    assert speech.sample_rate == 16000
    assert speech.duration == pytest.approx(len(speech.audio) / 16000)
    assert 2.0 < speech.duration < 8.0
    assert 0.05 < np.abs(speech.audio).max() <= 1.0
    assert (speech.text, speech.voice, speech.rate, speech.pitch) == (TEXT, "en-us+m3", 160, 50)


def test_phonemes_tile_the_audio(speech):
    ph = speech.phonemes
    assert ph[0].start == 0.0 and ph[-1].end == pytest.approx(speech.duration)
    assert all(p.start < p.end for p in ph)                     # monotone, no empty phoneme
    assert all(a.end == b.start for a, b in zip(ph, ph[1:]))    # no gaps, no overlaps
    assert not any(a.is_pause and b.is_pause for a, b in zip(ph, ph[1:]))  # pauses merged
    assert sum(not p.is_pause for p in ph) > 30
    assert not any("'" in p.name or p.name.startswith("_") and p.name != tts.PAUSE for p in ph)
    assert {"p", "b", "m"} <= {p.name for p in ph}              # bilabials are there


def test_words_match_the_text(speech):
    expected = [w.strip(",.") for w in TEXT.split()]
    assert [w.text for w in speech.words] == expected
    for a, b in zip(speech.words, speech.words[1:]):
        assert a.start < a.end <= b.start + 1e-9
    assert 0.0 <= speech.words[0].start and speech.words[-1].end <= speech.duration
    # a word's span is covered by non-pause phonemes only
    for w in speech.words:
        inside = [p for p in speech.phonemes if w.start <= p.start < w.end]
        assert inside and not any(p.is_pause for p in inside)


def test_joined_function_words_still_get_their_own_word():
    # espeak-ng sends one word event for "in the"; each written word must still appear
    words = tts.synthesize("Zoe waited in the museum.").words
    assert [w.text for w in words] == ["Zoe", "waited", "in", "the", "museum"]
    assert words[2].end == words[3].start < words[3].end == words[4].start


def test_loud_audio_lies_in_spoken_phonemes(speech):
    x, sr = speech.audio, speech.sample_rate
    hop = sr // 100                                              # 10 ms frames
    rms = np.sqrt(np.mean(x[: len(x) // hop * hop].reshape(-1, hop) ** 2, axis=1))
    t = (np.arange(len(rms)) + 0.5) / 100
    spoken = np.zeros(len(rms), bool)
    for p in speech.phonemes:
        if not p.is_pause:
            spoken |= (t >= p.start - 0.025) & (t < p.end + 0.025)  # espeak's +-25 ms
    loud = rms > 0.1 * rms.max()
    assert loud[spoken].mean() > 0.5                             # speech is mostly loud
    assert loud[~spoken].sum() == 0                              # pauses are silent
    assert any(p.is_pause and p.end - p.start > 0.1 for p in speech.phonemes[1:-1])  # the comma


def test_same_call_same_audio_and_voices_differ(speech):
    again = tts.synthesize(TEXT)
    assert np.array_equal(again.audio, speech.audio)
    assert [(p.name, p.start) for p in again.phonemes] == [(p.name, p.start) for p in speech.phonemes]
    other = tts.synthesize(TEXT, voice="en-us+f2")
    n = min(len(other.audio), len(speech.audio))
    assert not np.allclose(other.audio[:n], speech.audio[:n], atol=1e-2)


def test_voices_rate_pitch_and_sample_rate():
    sexes = list(tts.VOICES.values())
    assert sexes.count("male") >= 4 and sexes.count("female") >= 4
    text = "Maybe the moon is blue."
    slow = tts.synthesize(text, rate=120)
    fast = tts.synthesize(text, rate=300)
    assert fast.duration < 0.7 * slow.duration
    low = tts.synthesize(text, pitch=10)
    high = tts.synthesize(text, pitch=90)
    assert not np.array_equal(low.audio[:4000], high.audio[:4000])
    hi_sr = tts.synthesize(text, rate=120, sample_rate=22050)
    assert hi_sr.duration == pytest.approx(slow.duration, abs=1e-3)
    assert [p.start for p in hi_sr.phonemes] == pytest.approx([p.start for p in slow.phonemes],
                                                              abs=1e-3)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_workers_give_the_same_audio(method):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    text = "Bob met a mouse."
    with multiprocessing.get_context(method).Pool(1) as pool:
        out = pool.map(tts.synthesize, [text])[0]
    assert np.array_equal(out.audio, tts.synthesize(text).audio)


def test_errors():
    for text in ["", "   \n"]:
        with pytest.raises(StyletalkerError, match="empty"):
            tts.synthesize(text)
    with pytest.raises(StyletalkerError, match="unknown voice 'en-gb'.*en-us\\+m3"):
        tts.synthesize("Hello there.", voice="en-gb")
    with pytest.raises(StyletalkerError, match="rate 50 is outside 80..450"):
        tts.synthesize("Hello there.", rate=50)
    with pytest.raises(StyletalkerError, match="pitch 101"):
        tts.synthesize("Hello there.", pitch=101)
