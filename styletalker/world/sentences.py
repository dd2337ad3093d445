"""Sentences for the synthetic world to speak (not a StyleTalker component).

A tiny grammar over a hand-written vocabulary makes varied, grammatical English sentences. The
words were chosen so that speech exercises every mouth shape the face renderer draws: closures
(p, b, m), rounded vowels (oo, oh, ow), open vowels (ah, a), spread vowels (ee), fricatives
(f, v, th, s, z, sh) and the tongue and teeth sounds in between.

Sentence i depends only on (seed, i) and on the sentences before it (which it must not repeat), so
``make_sentences(5, s)[:3] == make_sentences(3, s)``.
"""
from __future__ import annotations

import random

from ..errors import StyletalkerError

MIN_WORDS = 4  # shortest sentence the grammar makes

NAMES = ["Bob", "Mia", "Paul", "Fiona", "Sam", "Vera", "Theo", "Zoe", "Maya", "Oscar",
         "Ruby", "Hugo", "Nora", "Peter", "Sophie", "Tom"]
PEOPLE = ["farmer", "baker", "teacher", "fisherman", "pilot", "doctor", "boy", "girl",
          "neighbour", "mother", "father", "painter", "sailor", "singer", "cat", "puppy"]
THINGS = ["cup", "box", "map", "book", "boat", "bottle", "basket", "rope", "spoon", "umbrella",
          "violin", "photo", "pizza", "melon", "apple", "shoe", "jacket", "blanket", "mirror",
          "piano", "wagon", "feather", "vase", "moon cake", "fishing rod", "sofa", "thermos"]
PLACES = ["garden", "kitchen", "harbour", "shop", "park", "station", "market", "bridge",
          "river", "museum", "zoo", "farm", "beach", "forest", "library", "office"]
ADJECTIVES = ["big", "small", "blue", "brown", "old", "warm", "smooth", "purple", "yellow",
              "heavy", "soft", "shiny", "dark", "huge", "quiet", "thick", "fresh", "round",
              "cool", "orange", "famous", "funny"]
# (base, past)
TRANSITIVE = [("bring", "brought"), ("push", "pushed"), ("move", "moved"), ("fix", "fixed"),
              ("paint", "painted"), ("wash", "washed"), ("open", "opened"), ("find", "found"),
              ("buy", "bought"), ("carry", "carried"), ("throw", "threw"), ("see", "saw"),
              ("watch", "watched"), ("choose", "chose"), ("borrow", "borrowed"),
              ("love", "loved"), ("show", "showed"), ("lose", "lost"), ("keep", "kept")]
INTRANSITIVE = [("laugh", "laughed"), ("smile", "smiled"), ("sleep", "slept"),
                ("wait", "waited"), ("arrive", "arrived"), ("shout", "shouted"),
                ("sing", "sang"), ("swim", "swam"), ("move", "moved"), ("yawn", "yawned")]
PREPOSITIONS = ["in", "near", "behind", "beside", "by", "at", "outside", "above"]
ADVERBS = ["quickly", "slowly", "softly", "happily", "calmly", "yesterday", "today", "again",
           "early", "at home", "every morning", "on Monday", "twice"]
DETERMINERS = ["the", "a", "my", "your", "his", "her", "our", "this", "that", "every"]
PLACE_DETERMINERS = ["the", "the", "this", "that", "our"]


def _det(rng: random.Random, noun_phrase: str, choices: list[str] = DETERMINERS) -> str:
    det = rng.choice(choices)
    if det == "a" and noun_phrase[0] in "aeiou":
        det = "an"
    return f"{det} {noun_phrase}"


def _noun_phrase(rng: random.Random, nouns: list[str]) -> str:
    noun = rng.choice(nouns)
    if rng.random() < 0.5:
        noun = f"{rng.choice(ADJECTIVES)} {noun}"
    return _det(rng, noun)


def _subject(rng: random.Random) -> str:
    return rng.choice(NAMES) if rng.random() < 0.4 else _noun_phrase(rng, PEOPLE)


def _place(rng: random.Random) -> str:
    return f"{rng.choice(PREPOSITIONS)} {_det(rng, rng.choice(PLACES), PLACE_DETERMINERS)}"


def _maybe(rng: random.Random, p: float, make) -> list[str]:
    return [make()] if rng.random() < p else []


def _sentence(rng: random.Random) -> str:
    """One sentence from a random template, with its final punctuation."""
    obj = lambda: _noun_phrase(rng, THINGS)  # noqa: E731
    place = lambda: _place(rng)               # noqa: E731
    adverb = lambda: rng.choice(ADVERBS)      # noqa: E731
    kind = rng.randrange(8)
    if kind == 0:    # statement, transitive
        parts = [_subject(rng), rng.choice(TRANSITIVE)[1], obj(), *_maybe(rng, 0.5, place),
                 *_maybe(rng, 0.4, adverb)]
        end = "."
    elif kind == 1:  # statement, intransitive
        parts = [_subject(rng), rng.choice(INTRANSITIVE)[1], *_maybe(rng, 0.7, place),
                 *_maybe(rng, 0.5, adverb)]
        end = "."
    elif kind == 2:  # yes/no question
        parts = ["did", _subject(rng), rng.choice(TRANSITIVE)[0], obj(), *_maybe(rng, 0.5, place)]
        end = "?"
    elif kind == 3:  # future
        parts = [_subject(rng), "will", rng.choice(TRANSITIVE)[0], obj(),
                 *_maybe(rng, 0.5, adverb)]
        end = "."
    elif kind == 4:  # imperative
        parts = ["please", rng.choice(TRANSITIVE)[0], obj(), *_maybe(rng, 0.6, place)]
        end = rng.choice([".", "!"])
    elif kind == 5:  # two clauses
        parts = [_subject(rng), rng.choice(TRANSITIVE)[1], obj() + ",", "and",
                 _subject(rng), rng.choice(INTRANSITIVE)[1], *_maybe(rng, 0.4, adverb)]
        end = "."
    elif kind == 6:  # wh-question
        parts = [rng.choice(["why", "where", "when"]), "did", _subject(rng),
                 rng.choice(TRANSITIVE)[0], obj()]
        end = "?"
    else:            # description
        parts = [_noun_phrase(rng, THINGS + PEOPLE), "was", *_maybe(rng, 0.4, lambda: "very"),
                 rng.choice(ADJECTIVES), *_maybe(rng, 0.5, place)]
        end = "."
    text = " ".join(parts) + end
    return text[0].upper() + text[1:]


def make_sentences(n: int, seed: int, max_words: int = 12) -> list[str]:
    """``n`` distinct sentences of MIN_WORDS..``max_words`` words each, the same for the same seed."""
    if max_words < MIN_WORDS:
        raise StyletalkerError(f"max_words={max_words} is too small: sentences need at least "
                               f"{MIN_WORDS} words")
    if n < 0:
        raise StyletalkerError(f"n={n} sentences is negative: ask for 0 or more")
    out: list[str] = []
    seen: set[str] = set()
    for i in range(n):
        rng = random.Random(f"sentences:{seed}:{i}")  # str seeds are stable across runs
        for _ in range(10_000):
            text = _sentence(rng)
            if MIN_WORDS <= len(text.split()) <= max_words and text not in seen:
                break
        else:
            raise StyletalkerError(f"could not make {n} distinct sentences of at most "
                                   f"{max_words} words: ask for fewer or allow longer ones")
        out.append(text)
        seen.add(text)
    return out
