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

The word lists (number words, specifics, stop words, negations) are the language
pack's (:class:`~callcontrol.language.base.FactGuardWords`), English by default.

When a phrase fails, the reply ends there and the caller hears instead the
extractive answer (``pipeline/answer.py``): the fact itself, cleaned for speech.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from callcontrol.language import ENGLISH, LanguagePack
from callcontrol.language.base import FactGuardWords

_WORD = re.compile(r"[a-z0-9]+(?:[:.][0-9]+)?")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][a-z]+(?:[-'][A-Za-z]+)?)\b")


def normalize_token(token: str, words: FactGuardWords = ENGLISH.fact_guard) -> str:
    token = token.lower()
    match = words.ordinal.match(token)
    if match:
        return match.group(1)
    token = words.number_words.get(token, token)
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss") and token[0].isalpha():
        token = token[:-1]  # "opens"/"open", "meetings"/"meeting": enough stemming here
    return token


def tokens(text: str, words: FactGuardWords = ENGLISH.fact_guard) -> list[str]:
    return [normalize_token(t, words) for t in _WORD.findall(text.lower())]


def is_specific(token: str, words: FactGuardWords = ENGLISH.fact_guard) -> bool:
    return token[0].isdigit() or token in words.specific_words


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def _ngrams(text: str, words: FactGuardWords, n: int = 4) -> set[tuple[str, ...]]:
    found = tokens(text, words)
    return {tuple(found[i : i + n]) for i in range(len(found) - n + 1)}


@dataclass
class FactGuard:
    """Checks reply phrases against the facts a turn retrieved."""

    facts: list[str]
    question: str
    fallback: str = ""  # said instead of an unsupported phrase; default: best fact sentence
    system_prompt: str = ""
    language: LanguagePack = field(default=ENGLISH, repr=False)  # its word lists
    _words: FactGuardWords = field(init=False, repr=False)
    _bigrams: set[tuple[str, str]] = field(init=False, default_factory=set)
    _vocab: set[str] = field(init=False, default_factory=set)
    _names: set[str] = field(init=False, default_factory=set)
    _negated: bool = field(init=False, default=False)
    _prompt_grams: set[tuple[str, ...]] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self._words = lexicon = self.language.fact_guard
        for fact in self.facts:
            words = [w for w in tokens(fact, lexicon) if w not in lexicon.stopwords]
            self._vocab.update(words)
            self._bigrams.update(zip(words, words[1:], strict=False))
            self._names.update(w.lower() for w in re.findall(r"[A-Za-z]+", fact))
            self._negated = self._negated or bool(lexicon.negation.search(fact))
        self._names.update(w.lower() for w in re.findall(r"[A-Za-z]+", self.question))
        self._prompt_grams = _ngrams(self.system_prompt, lexicon) - set().union(
            *(_ngrams(f, lexicon) for f in self.facts)
        )

    def supported(self, phrase: str) -> bool:
        """Every specific, name and negation in ``phrase`` is backed by the facts."""
        lexicon = self._words
        body = lexicon.leading_answer.sub("", phrase)
        if self._prompt_grams and _ngrams(body, lexicon) & self._prompt_grams:
            return False
        for match in _NAME.finditer(body):
            if match.start() > 0 and match.group(1).lower() not in self._names:
                return False
        if lexicon.negation.search(body) and not self._negated:
            return False
        words = [w for w in tokens(body, lexicon) if w not in lexicon.stopwords]
        for i, word in enumerate(words):
            if not is_specific(word, lexicon):
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
        lexicon = self._words
        asked = {w for w in tokens(self.question, lexicon) if w not in lexicon.stopwords}
        best, best_score = "", -1.0
        for fact in self.facts:
            for sentence in sentences(fact):
                words = {w for w in tokens(sentence, lexicon) if w not in lexicon.stopwords}
                shared = asked & words
                score: float = len(shared) + 2 * sum(1 for w in shared if is_specific(w, lexicon))
                score += 0.1 * sum(1 for w in words if is_specific(w, lexicon))
                if score > best_score:
                    best, best_score = sentence, score
        return best

    def review(self, phrase: str) -> str | None:
        """None if ``phrase`` may be said; otherwise what to say instead (the reply ends)."""
        if self.supported(phrase):
            return None
        return self.fallback or self.best_sentence() or None
