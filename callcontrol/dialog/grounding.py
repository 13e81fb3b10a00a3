"""The verifier between the language model and the caller's ear. Pure.

A model rephrasing facts can still swap them ("room 10" for "room 3 at 10 am"),
negate them ("you can't return…"), invent a name, or read its own instructions
back. Every phrase is checked *before* it is synthesized:

* each specific it contains — a number, a time, a weekday, a month, an ordinal, a
  frequency word — must appear in the facts next to a neighbouring word
  ("room 3", "10 am", "on Monday");
* each name (a capitalized word inside a sentence) must appear in the facts or in
  the caller's question;
* a negation ("not", "never", "closed", "n't") must be in the facts too;
* it must not repeat the system prompt (four words in a row from it).

When a phrase fails, the reply ends there and the caller hears instead the
extractive answer (``pipeline/answer.py``): the fact itself, cleaned for speech.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_WORD = re.compile(r"[a-z0-9]+(?:[:.][0-9]+)?")
_ORDINAL = re.compile(r"^(\d+)(st|nd|rd|th)$")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")

NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "fifteen": "15", "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50",
    "hundred": "100", "first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5",
}  # fmt: skip
SPECIFIC_WORDS = frozenset(
    """monday tuesday wednesday thursday friday saturday sunday weekend weekday weekdays
    january february march april may june july august september october november december
    daily weekly monthly yearly annually hourly biweekly quarterly
    am pm noon midnight morning afternoon evening tonight tomorrow yesterday""".split()
)
STOPWORDS = frozenset(
    """a an the is are was were be been at on in of to for from by with and or it its this
    that these those there here our your my we you i he she they them his her as so do does
    did can will would should may might must has have had not no yes also than then until
    every each per about into over under up down out off very just only""".split()
)


def normalize_token(token: str) -> str:
    token = token.lower()
    match = _ORDINAL.match(token)
    if match:
        return match.group(1)
    token = NUMBER_WORDS.get(token, token)
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss") and token[0].isalpha():
        token = token[:-1]  # "opens"/"open", "meetings"/"meeting": enough stemming here
    return token


def tokens(text: str) -> list[str]:
    return [normalize_token(t) for t in _WORD.findall(text.lower())]


def is_specific(token: str) -> bool:
    return token[0].isdigit() or token in SPECIFIC_WORDS


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][a-z]+(?:[-'][A-Za-z]+)?)\b")
_NEGATION = re.compile(r"\b(not|never|no|cannot|closed|none|nobody)\b|n't\b", re.IGNORECASE)
_LEADING_ANSWER = re.compile(r"^\s*(yes|no)\b[.,!]?\s*", re.IGNORECASE)


def _ngrams(text: str, n: int = 4) -> set[tuple[str, ...]]:
    words = tokens(text)
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


@dataclass
class FactGuard:
    """Checks reply phrases against the facts a turn retrieved."""

    facts: list[str]
    question: str
    fallback: str = ""  # said instead of an unsupported phrase; default: best fact sentence
    system_prompt: str = ""
    _bigrams: set[tuple[str, str]] = field(init=False, default_factory=set)
    _vocab: set[str] = field(init=False, default_factory=set)
    _names: set[str] = field(init=False, default_factory=set)
    _negated: bool = field(init=False, default=False)
    _prompt_grams: set[tuple[str, ...]] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        for fact in self.facts:
            words = [w for w in tokens(fact) if w not in STOPWORDS]
            self._vocab.update(words)
            self._bigrams.update(zip(words, words[1:], strict=False))
            self._names.update(w.lower() for w in re.findall(r"[A-Za-z]+", fact))
            self._negated = self._negated or bool(_NEGATION.search(fact))
        self._names.update(w.lower() for w in re.findall(r"[A-Za-z]+", self.question))
        self._prompt_grams = _ngrams(self.system_prompt) - set().union(
            *(_ngrams(f) for f in self.facts)
        )

    def supported(self, phrase: str) -> bool:
        """Every specific, name and negation in ``phrase`` is backed by the facts."""
        body = _LEADING_ANSWER.sub("", phrase)
        if self._prompt_grams and _ngrams(body) & self._prompt_grams:
            return False
        for match in _NAME.finditer(body):
            if match.start() > 0 and match.group(1).lower() not in self._names:
                return False
        if _NEGATION.search(body) and not self._negated:
            return False
        words = [w for w in tokens(body) if w not in STOPWORDS]
        for i, word in enumerate(words):
            if not is_specific(word):
                continue
            if word not in self._vocab:
                return False
            neighbours = [words[j] for j in (i - 1, i + 1) if 0 <= j < len(words)]
            if not neighbours:
                continue
            if not any(
                (a, b) in self._bigrams for n in neighbours for a, b in ((n, word), (word, n))
            ):
                return False
        return True

    def best_sentence(self) -> str:
        """The fact sentence sharing the most content words with the question (its days,
        times and numbers count triple)."""
        asked = {w for w in tokens(self.question) if w not in STOPWORDS}
        best, best_score = "", -1.0
        for fact in self.facts:
            for sentence in sentences(fact):
                words = {w for w in tokens(sentence) if w not in STOPWORDS}
                shared = asked & words
                score: float = len(shared) + 2 * sum(1 for w in shared if is_specific(w))
                score += 0.1 * sum(1 for w in words if is_specific(w))
                if score > best_score:
                    best, best_score = sentence, score
        return best

    def review(self, phrase: str) -> str | None:
        """None if ``phrase`` may be said; otherwise what to say instead (the reply ends)."""
        if self.supported(phrase):
            return None
        return self.fallback or self.best_sentence() or None
