"""Unsupported facts: specifics in the bot's speech that the owner's knowledge does not hold.

Checked in each answer sentence: numbers, times, prices, percentages, weekdays, months,
proper names (a capitalized word not at a sentence start) and negations. A specific is
supported when it occurs in the owner's knowledge text (normalized); a negation when the
knowledge sentence sharing the most content words with the answer sentence also has a
negation. A leading "No," answering a yes/no question is the answer, not a claim.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

from tests.eval.normalize import MERIDIEM, contains_tokens, tokens

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
)  # fmt: skip
NEGATIONS = frozenset({"not", "no", "never", "cannot", "closed"})
NOT_NAMES = frozenset({"i", "im", "ill", "ive", "id", "ok", "okay", "mr", "mrs", "ms", "dr"})
STOPWORDS = frozenset(
    """a an the and or but if of to in on at by for with from as is are was were be been being
    it its this that these those there here we you your our ours us they them their i me my he
    she his her do does did have has had can could will would should may might must shall
    what which who whom when where why how all any some each every so than then too very just
    also about into over under up down out off again only own same such more most other
    yes no not never please thanks thank hello hi ok okay dont doesnt didnt isnt arent wasnt
    werent cant wont wouldnt shouldnt couldnt havent hasnt hadnt""".split()
)
# "one" as a pronoun is not a quantity ("one of our staff", "no one").
_PRONOUN_ONE = re.compile(r"\b(?:(no|any|some|every|the|this|that|which) one|one of)\b", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[^a-z])|\n+")
_RAW_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")


@dataclass(frozen=True, slots=True)
class Fact:
    """One unsupported specific: its kind, how it was said, and the sentence it was in."""

    kind: str  # number | time | price | percent | weekday | month | name | negation
    text: str
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _neg_words(text: str) -> list[str]:
    """Negation words in ``text`` in order ("not", "no", "n't" forms, "cannot", "closed")."""
    out = []
    for word in _RAW_WORD.findall(text.lower().replace("’", "'")):
        if word in NEGATIONS or word.endswith("n't"):
            out.append(word)
    return out


def _content(toks: list[str]) -> set[str]:
    return {t for t in toks if t not in STOPWORDS and t not in NEGATIONS and len(t) > 1}


class Knowledge:
    """An owner's knowledge text, prepared for support checks."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokens(text)

    @cached_property
    def _sentences(self) -> list[tuple[set[str], bool]]:
        return [(_content(tokens(s)), bool(_neg_words(s))) for s in sentences(self.text)]

    def has(self, needle: list[str]) -> bool:
        return contains_tokens(self.tokens, needle)

    def negation_supported(self, sentence: str) -> bool:
        words = _content(tokens(sentence))
        best, negated = 0, False
        for content, has_negation in self._sentences:
            shared = len(words & content)
            if shared > best:
                best, negated = shared, has_negation
            elif shared == best and shared > 0:
                negated = negated or has_negation
        return best > 0 and negated


def _specifics(sentence: str) -> list[tuple[str, str, list[str]]]:
    """(kind, as said, tokens to look for) for each number/time/price/percent/day/month."""
    toks = tokens(_PRONOUN_ONE.sub(lambda m: re.sub("(?i)one", "someone", m.group(0)), sentence))
    out: list[tuple[str, str, list[str]]] = []
    for i, tok in enumerate(toks):
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        if re.fullmatch(r"\$?\d[\d.:]*(st|nd|rd|th)?", tok):
            if tok.startswith("$"):
                out.append(("price", tok, [tok[1:]]))
            elif nxt == "percent":
                out.append(("percent", f"{tok} percent", [tok, "percent"]))
            elif nxt in MERIDIEM:
                out.append(("time", f"{tok} {nxt}", [tok, nxt]))
            elif ":" in tok:
                out.append(("time", tok, [tok]))
            else:
                out.append(("number", tok, [tok]))
        elif tok.rstrip("s") in WEEKDAYS:
            out.append(("weekday", tok, [tok.rstrip("s")]))
        elif tok in MONTHS and tok != "may":
            out.append(("month", tok, [tok]))
    return out


def _names(sentence: str) -> list[str]:
    """Capitalized words that do not start the sentence (and are not "I", days, months)."""
    words = _RAW_WORD.findall(sentence)
    out = []
    for word in words[1:]:
        plain = tokens(word)
        if not word[0].isupper() or not plain or plain[0] in NOT_NAMES:
            continue
        if plain[0] == "may":
            out.append(word)  # "May" mid-sentence: the month
        elif plain[0].rstrip("s") not in WEEKDAYS and plain[0] not in MONTHS:
            out.append(word)
    return out


def _supported_specific(kb: Knowledge, needle: list[str]) -> bool:
    if kb.has(needle):
        return True
    if needle[0].rstrip("s") in WEEKDAYS:
        return kb.has([needle[0] + "s"])
    return False


def unsupported_facts(answer: str, kb: Knowledge, *, yes_no_question: bool) -> list[Fact]:
    """Every specific in ``answer`` that ``kb`` does not support (each listed once)."""
    found: dict[tuple[str, str, str], Fact] = {}

    def flag(kind: str, text: str, sentence: str) -> None:
        found.setdefault((kind, text.lower(), sentence), Fact(kind, text, sentence))

    for index, sentence in enumerate(sentences(answer)):
        for kind, said, needle in _specifics(sentence):
            if not _supported_specific(kb, needle):
                flag(kind, said, sentence)
        for name in _names(sentence):
            plain = tokens(name)
            kind = "month" if plain == ["may"] else "name"
            if not kb.has(plain) and not (plain[0].endswith("s") and kb.has([plain[0][:-1]])):
                flag(kind, name, sentence)
        negations = _neg_words(sentence)
        if index == 0 and yes_no_question and re.match(r"\s*no\b\s*[,.!;:—-]", sentence, re.I):
            negations = negations[1:]  # the leading "No," is the answer to the question
        if negations and not kb.negation_supported(sentence):
            for word in negations:
                flag("negation", word, sentence)
    return list(found.values())


_YES_WORDS = frozenset(
    "yes yeah yep yup sure certainly absolutely correct indeed definitely".split()
)
_NO_WORDS = frozenset("no nope unfortunately sorry".split())
_YES_PHRASES = (
    "of course", "we do", "we are", "we have", "we can", "we offer", "we accept", "we will",
    "you can", "you do", "you are", "you will", "it is", "its", "there is", "there are",
    "that is right", "thats right", "that is correct", "thats correct", "they are", "it does",
)  # fmt: skip
_NO_PHRASES = ("im afraid", "i am afraid", "im sorry", "i am sorry")
AUXILIARIES = frozenset(
    """do does did is are was were can could will would should have has had may am""".split()
)


def polarity(answer: str) -> str | None:
    """ "yes"/"no" when the answer's first words say so, else None."""
    clause = re.split(r"[,.;:!?—]", answer.strip(), maxsplit=1)[0]
    raw = clause.lower().replace("’", "'").split()[:6]
    words = [w.replace("'", "") for w in raw]
    if not words:
        return None
    if words[0] in _YES_WORDS:
        return "yes"
    if words[0] in _NO_WORDS:
        return "no"
    joined = " ".join(words)
    if joined.startswith(_NO_PHRASES) or _neg_words(clause):
        return "no"
    if joined.startswith(_YES_PHRASES):
        return "yes"
    return None


def is_yes_no_question(question: str) -> bool:
    """Starts with an auxiliary verb ("Do you…", "Is it…", "Can I…")."""
    words = question.strip().lower().split()
    return bool(words) and words[0] in AUXILIARIES
