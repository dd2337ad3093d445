"""The sentence generator: deterministic, bounded, distinct and phonetically varied."""
import re

import pytest

from styletalker import StyletalkerError
from styletalker.world import sentences as S


def test_deterministic_and_prefix_stable():
    a = S.make_sentences(40, seed=7)
    assert a == S.make_sentences(40, seed=7)
    assert S.make_sentences(10, seed=7) == a[:10]
    assert S.make_sentences(40, seed=8) != a


@pytest.mark.parametrize("max_words", [4, 6, 12])
def test_length_form_and_distinctness(max_words):
    out = S.make_sentences(200, seed=1, max_words=max_words)
    assert len(out) == len(set(out)) == 200
    for s in out:
        assert S.MIN_WORDS <= len(s.split()) <= max_words
        assert re.fullmatch(r"[A-Z][a-z ,]*[a-zA-Z ,]*[.?!]", s), s
        assert "  " not in s and not s.endswith(",.")


def test_articles_agree():
    for s in S.make_sentences(500, seed=2):
        assert not re.search(r"\ba [aeiou]", s.lower()), s
        assert not re.search(r"\ban [^aeiou]", s.lower()), s


def test_phonetically_varied():
    text = " ".join(S.make_sentences(60, seed=3)).lower()
    # closures, rounded, open and spread vowels, fricatives
    for sound in ["p", "b", "m", "oo", "o", "a", "ee", "f", "v", "th", "sh", "s", "z"]:
        assert sound in text, sound
    kinds = {s[-1] for s in S.make_sentences(60, seed=3)} | {s.split()[0] for s in
                                                             S.make_sentences(60, seed=3)}
    assert {".", "?", "Please", "Did"} <= kinds                 # statements, questions, commands


def test_errors():
    with pytest.raises(StyletalkerError, match="max_words=3"):
        S.make_sentences(3, seed=0, max_words=3)
    assert S.make_sentences(0, seed=0) == []
