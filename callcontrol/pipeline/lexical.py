"""Words for lexical retrieval: one tokenizer for chunks and questions (pure).

BM25 (``bm25s``) and the confidence's word coverage compare words, so both sides
must be cut the same way: lowercase, numbers kept whole ("9:30", "25"), number
words as digits ("nine" → "9"), English stop words dropped, Snowball stems
("Saturdays" → "saturday", "opening" → "open") from PyStemmer.
"""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

from callcontrol.pipeline.sentences import split_sentences

_TOKEN = re.compile(r"\d+(?::\d\d)?|[^\W\d_]+(?:'[^\W\d_]+)?")
NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "thirteen": "13", "fourteen": "14", "fifteen": "15", "sixteen": "16", "seventeen": "17",
    "eighteen": "18", "nineteen": "19", "twenty": "20", "thirty": "30", "forty": "40",
    "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90",
    "hundred": "100",
}  # fmt: skip
STOPWORDS = frozenset(
    """a an the is are was were be been being am at on in of to for from by with and or
    it its it's this that these those there here our ours your yours my me we us you i
    he she they them his her as so do does did doing can could will would should may
    might must shall has have had having not no yes also than then if what when where
    who whom which why how about into over under up down out off very just only any
    some all each every per too more most much many such own same other again further
    once both few nor don't doesn't didn't can't won't isn't aren't i'm i'd i'll i've
    you're we're they're let's please hi hello hey thanks thank okay ok well quick
    question wondering wonder wanted want know tell like need get got something
    anything way really could've would've""".split()
)
# Words a question uses to ask, not to name what it asks about: no weight in coverage.
QUESTION_WORDS = frozenset("time times long day days kind sort thing things".split())


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Lowercased word and number tokens, number words as digits (no stemming)."""
    out = []
    for token in _TOKEN.findall(text.lower().replace("’", "'")):
        out.append(NUMBER_WORDS.get(token, token))
    return out


def tokenize(text: str) -> list[str]:
    """Content tokens for BM25 and coverage: stop words out, stems in."""
    kept = [w for w in words(text) if w not in STOPWORDS]
    stems: list[str] = _stemmer().stemWords([w.removesuffix("'s") for w in kept])
    return stems


def content_tokens(text: str) -> list[str]:
    """What a question is about: :func:`tokenize` without the asking words."""
    stems = set(_stemmer().stemWords(sorted(QUESTION_WORDS)))
    return [t for t in tokenize(text) if t not in stems]


_NAME_RUN = re.compile(r"\b([A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)*)")
_COMMON = frozenset(
    """a an the we our you your if for in on at to and or but this that these those it
    its there here what when where who how why which please all any each every our
    monday tuesday wednesday thursday friday saturday sunday""".split()
)
_LONG_WORD = re.compile(r"\b[a-z][a-z-]{7,}\b")


def glossary(text: str, max_terms: int = 80) -> str:
    """The names and long words of a knowledge text, most frequent first.

    Speech recognition takes it as previous text, which biases decoding toward the
    owner's own terms ("periodontist", "Westside", "Linda Moore") that 8 kHz audio
    leaves ambiguous; ~``max_terms`` terms stay inside Whisper's prompt budget.
    ``text``: one fact a line (sentence starts are not names).
    """
    counts: dict[str, int] = {}
    sentences = [s for line in text.splitlines() for s in split_sentences(line)]
    for sentence in sentences:
        for match in _NAME_RUN.finditer(sentence):
            name = match.group(1)
            if match.start() == 0 or name.split()[0].lower() in _COMMON or len(name) < 3:
                continue
            counts[name] = counts.get(name, 0) + 1
        for word in _LONG_WORD.findall(sentence):
            counts[word] = counts.get(word, 0) + 1
    terms = sorted(counts, key=lambda t: (-counts[t], t))[:max_terms]
    return ", ".join(terms) + "." if terms else ""
